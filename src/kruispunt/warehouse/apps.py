"""The five web applications of the warehouse: server-rendered HTML pages over the published tables.

Why plain HTML with GET forms: the URL of a page *is* its permalink (the selection, the pivot), the pages
work without JavaScript and with assistive technology, and the numbers come through the same code path as
the PxWeb API (:func:`kruispunt.warehouse.pxweb.resolve_selection` and :meth:`TableStore.select`), so the
screen, the downloads and the API show the same disclosure-controlled cells. Everything written into a
page goes through :func:`html.escape`.

A table page takes one query parameter per dimension code (repeatable, or a PxWeb expression such as
``quarter=top(4)`` so that a permalink stays current) and ``rows``/``cols`` for the pivot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from kruispunt.warehouse import pxweb
from kruispunt.warehouse.formats import (
    FORMATS,
    SUPPRESSED_LEGEND,
    Cube,
    build_cube,
    cell_symbol,
    layout,
    pivot,
)
from kruispunt.warehouse.published import (
    InvalidSelection,
    PublishedError,
    TableStore,
    UnknownTable,
)
from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, TableMeta

APPLICATIONS: dict[str, str] = {
    "global": "Global figures",
    "local": "Local figures: municipality, arrondissement, region",
    "household": "Household composition",
    "mobility_short": "Short-term socio-economic mobility",
    "mobility_long": "Long-term socio-economic mobility",
}
"""The five applications (``TableMeta.application``) and their titles."""

RESERVED = ("rows", "cols")
"""Query parameters of a table page that are not dimensions."""

MAX_SCREEN_CELLS = 5000
"""A larger selection is refused on screen (the downloads allow up to the API's limit)."""

MAX_BARS = 60

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:80rem;color:#1a1a1a}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #999;padding:.25rem .5rem}
td{text-align:right;font-variant-numeric:tabular-nums}thead th{background:#eee}
fieldset{display:inline-block;vertical-align:top;margin:.25rem;border:1px solid #bbb}
select[multiple]{min-width:12rem}.legend{font-size:.9rem}a{color:#0645ad}
"""


# ------------------------------------------------------------------------------------------------ pages


def page(title: str, body: str, status_code: int = 200, crumbs: Sequence[tuple[str, str]] = ()) -> Response:
    """A complete HTML document; ``title`` is escaped here, ``body`` must already be."""
    nav = ""
    if crumbs:
        links = " › ".join(f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in crumbs)
        nav = f'<nav aria-label="Breadcrumb">{links}</nav>'
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} – kruispunt statistics</title><style>{_STYLE}</style></head>"
        f'<body>{nav}<main id="main"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(document, status_code=status_code, headers={"Content-Security-Policy": _CSP})


def error_page(status_code: int, message: str, crumbs: Sequence[tuple[str, str]] = ()) -> Response:
    title = "Not found" if status_code == 404 else "The request cannot be answered"
    body = f'<p role="alert">{escape(message)}</p><p><a href="/apps">Back to the applications</a></p>'
    return page(title, body, status_code, crumbs)


class _UnknownApplication(PublishedError):
    def __init__(self, application: str) -> None:
        super().__init__(f"there is no application {application!r}")


def _error_status(exc: PublishedError) -> int:
    return 404 if isinstance(exc, UnknownTable | _UnknownApplication) else 400


def _table_list(tables: Iterable[TableMeta], application: str) -> str:
    items = [
        f'<li><a href="/apps/{escape(application)}/{escape(m.id)}">{escape(m.title)}</a></li>' for m in tables
    ]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>No table is published yet.</p>"


# --------------------------------------------------------------------------------------------- table view


def _query(params: Sequence[tuple[str, str]]) -> str:
    return urlencode(list(params))


def _form(meta: TableMeta, chosen: dict[str, list[str]], rows: str, cols: str, action: str) -> str:
    """The selection form: one labelled multi-select per dimension, then the pivot choice (GET)."""
    parts = [f'<form method="get" action="{escape(action)}"><h2>Selection</h2>']
    for dim in meta.dimensions:
        ident = f"dim-{dim.code}"
        options = "".join(
            f'<option value="{escape(v.code)}"{" selected" if v.code in chosen[dim.code] else ""}>'
            f"{escape(v.label)}</option>"
            for v in dim.values
        )
        size = min(len(dim.values), 8)
        parts.append(
            f'<fieldset><legend>{escape(dim.label)}</legend><label for="{escape(ident)}">'
            f"{escape(dim.label)} (one or more)</label><br>"
            f'<select multiple size="{size}" name="{escape(dim.code)}" id="{escape(ident)}">'
            f"{options}</select>"
            "</fieldset>"
        )
    for name, label, current in (("rows", "Rows", rows), ("cols", "Columns", cols)):
        options = "".join(
            f'<option value="{escape(d.code)}"{" selected" if d.code == current else ""}>'
            f"{escape(d.label)}</option>"
            for d in meta.dimensions
        )
        parts.append(
            f'<fieldset><legend>{label}</legend><label for="pivot-{name}">{label} show</label><br>'
            f'<select name="{name}" id="pivot-{name}">{options}</select></fieldset>'
        )
    parts.append('<p><button type="submit">Show the table</button></p></form>')
    return "".join(parts)


def _pivot_html(cube: Cube) -> str:
    """The pivot as an accessible HTML table: column and row headers with ``scope``; "C" for withheld."""
    rows, cols, grid = pivot(cube)
    stub_dims = cube.dimensions[: len(cube.stub)]
    head_dims = cube.dimensions[len(cube.stub) :]
    labels = {d.code: {v.code: v.label for v in d.values} for d in cube.dimensions}
    corner = max(len(stub_dims), 1)
    out = [f"<table><caption>{escape(cube.meta.title)} ({escape(cube.meta.unit)})</caption><thead>"]
    if head_dims:
        names = " / ".join(d.label for d in head_dims)
        out.append(
            f'<tr><td colspan="{corner}"></td>'
            f'<th scope="colgroup" colspan="{len(cols)}">{escape(names)}</th></tr>'
        )
    for h, dim in enumerate(head_dims):
        out.append("<tr>")
        if h == len(head_dims) - 1 and stub_dims:
            out += [f'<th scope="col">{escape(d.label)}</th>' for d in stub_dims]
        else:
            out.append(f'<td colspan="{corner}"></td>')
        out += [f'<th scope="col">{escape(labels[dim.code][key[h]])}</th>' for key in cols]
        out.append("</tr>")
    if not head_dims:
        out.append("<tr>" + "".join(f'<th scope="col">{escape(d.label)}</th>' for d in stub_dims))
        out.append(f'<th scope="col">{escape(cube.meta.measure)}</th></tr>')
    out.append("</thead><tbody>")
    for r, key in enumerate(rows):
        out.append("<tr>")
        out += [f'<th scope="row">{escape(labels[d.code][key[s]])}</th>' for s, d in enumerate(stub_dims)]
        if not stub_dims:
            out.append(f'<th scope="row">{escape(cube.meta.measure)}</th>')
        for c in range(len(cols)):
            index = grid[r][c]
            value, status = cube.values[index], cube.statuses[index]
            shown = cell_symbol(value, status)
            if status == SUPPRESSED:
                out.append(f'<td title="confidential"><abbr title="confidential">{escape(shown)}</abbr></td>')
            else:
                out.append(f"<td>{escape(shown)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _chart_svg(cube: Cube) -> str:
    """A bar chart of the pivot's first column (server-rendered SVG, labelled for screen readers)."""
    rows, cols, grid = pivot(cube)
    if not rows or not cols:
        return ""
    stub_dims = cube.dimensions[: len(cube.stub)]
    head_dims = cube.dimensions[len(cube.stub) :]
    labels = {d.code: {v.code: v.label for v in d.values} for d in cube.dimensions}
    column = " ".join(labels[d.code][cols[0][h]] for h, d in enumerate(head_dims)) or cube.meta.measure
    bars = []
    for r, key in enumerate(rows[:MAX_BARS]):
        label = " ".join(labels[d.code][key[s]] for s, d in enumerate(stub_dims)) or cube.meta.title
        index = grid[r][0]
        bars.append((label, cube.values[index], cube.statuses[index]))
    top = max((v for _, v, s in bars if v is not None and s is None), default=0) or 1
    bar_h, gap, label_w, plot_w = 18, 6, 260, 420
    height = len(bars) * (bar_h + gap) + gap
    title = f"{cube.meta.title}: {column}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title chart-desc" '
        f'width="{label_w + plot_w + 80}" height="{height}" viewBox="0 0 {label_w + plot_w + 80} {height}">'
        f'<title id="chart-title">{escape(title)}</title>'
        f'<desc id="chart-desc">Bar chart of the first column of the table, one bar per row; '
        f"C marks a confidential value.</desc>"
    ]
    for i, (label, value, status) in enumerate(bars):
        y = gap + i * (bar_h + gap)
        shown = cell_symbol(value, status)
        out.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
        )
        if value is not None and status is None:
            width = max(round(plot_w * value / top), 1) if value > 0 else 0
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar_h}" fill="#3b6ea5">'
                f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            )
            x_text = label_w + width + 4
        else:
            x_text = label_w + 4
        out.append(f'<text x="{x_text}" y="{y + bar_h - 4}" font-size="12">{escape(shown)}</text>')
    out.append("</svg>")
    return "".join(out)


def _raw_selection(request: Request, meta: TableMeta, ignore: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Dimension parameters of the query string; an unknown parameter is an unknown dimension."""
    raw: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED or key in ignore:
            continue
        dim = pxweb.find_dimension(meta, key)
        raw.setdefault(dim.code, []).extend(pxweb.split_codes(value))
    for code, expressions in raw.items():
        if not expressions:
            raise InvalidSelection(f"no value selected for {code!r}")
    return raw


def view_selection(
    store: TableStore, meta: TableMeta, raw: dict[str, list[str]], rows: str | None, cols: str | None
) -> tuple[dict[str, list[str]], str, str, tuple[str, ...], tuple[str, ...]]:
    """The explicit codes per dimension of a page, its rows/columns and the stub/heading of its cube.

    Defaults: rows = the first dimension that is not time, columns = the time dimension (else the last);
    all values of the row and column dimensions, the TOTAL of the others (as the API does).
    """
    codes = [d.code for d in meta.dimensions]
    default_stub, default_heading = layout(meta)
    col_dim = pxweb.find_dimension(meta, cols).code if cols else default_heading[0]
    if rows:
        row_dim = pxweb.find_dimension(meta, rows).code
    else:
        row_dim = next(
            (c for c in default_stub if c != col_dim), next((c for c in codes if c != col_dim), "")
        )
    if row_dim == col_dim and len(codes) > 1:
        raise InvalidSelection("the rows and the columns must show different variables")
    selection = pxweb.resolve_selection(meta, raw)
    for dim in meta.dimensions:
        if dim.code not in selection and dim.code in (row_dim, col_dim):
            selection[dim.code] = list(dim.codes())
    chosen = store.resolve(meta, selection)
    if len(codes) == 1:
        return chosen, row_dim, col_dim, (), (col_dim,)
    stub = (row_dim, *(c for c in codes if c not in (row_dim, col_dim)))
    return chosen, row_dim, col_dim, stub, (col_dim,)


def _params(meta: TableMeta, chosen: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(d.code, c) for d in meta.dimensions for c in chosen[d.code]]


def _api_params(
    meta: TableMeta, chosen: dict[str, list[str]], stub: Sequence[str], heading: Sequence[str]
) -> str:
    params = [(f"valueCodes[{d.code}]", ",".join(chosen[d.code])) for d in meta.dimensions]
    if stub:
        params.append(("stub", ",".join(stub)))
    if heading:
        params.append(("heading", ",".join(heading)))
    return _query(params)


# ----------------------------------------------------------------------------------------------- router


PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "no such application or table (a page)",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


def create_router(store: TableStore) -> APIRouter:
    """Routes ``/apps``, ``/apps/{application}``, ``/apps/{application}/{table_id}`` and its ``/download``."""
    router = APIRouter(tags=["warehouse apps"], responses=PAGE_ERRORS)

    def find(application: str, table_id: str) -> TableMeta:
        """The table, if it belongs to this application (a table has one canonical page)."""
        if application not in APPLICATIONS:
            raise _UnknownApplication(application)
        meta, _ = store.load(table_id)
        if meta.application != application:
            raise UnknownTable(table_id)
        return meta

    @router.get("/apps", response_class=HTMLResponse, summary="The five applications and their tables")
    def apps_index() -> Response:
        tables = store.tables()
        sections = [
            "<p>Statistics of the data warehouse labour market and social protection. "
            'Every table is also available through the <a href="/api/v2/tables">PxWeb API</a>.</p>'
        ]
        for code, title in APPLICATIONS.items():
            mine = [m for m in tables if m.application == code]
            sections.append(
                f'<section><h2><a href="/apps/{escape(code)}">{escape(title)}</a></h2>'
                f"{_table_list(mine, code)}</section>"
            )
        return page("Statistics applications", "".join(sections))

    @router.get("/apps/{application}", response_class=HTMLResponse, summary="The tables of one application")
    def application_index(application: str) -> Response:
        if application not in APPLICATIONS:
            return error_page(404, f"there is no application {application!r}", [("/apps", "Applications")])
        mine = [m for m in store.tables() if m.application == application]
        return page(
            APPLICATIONS[application],
            "<h2>Choose a table</h2>" + _table_list(mine, application),
            crumbs=[("/apps", "Applications")],
        )

    @router.get(
        "/apps/{application}/{table_id}", response_class=HTMLResponse, summary="A table: pivot and chart"
    )
    def table_view(
        request: Request,
        application: str,
        table_id: str,
        rows: str | None = Query(None, max_length=200),
        cols: str | None = Query(None, max_length=200),
    ) -> Response:
        crumbs = [("/apps", "Applications")]
        if application in APPLICATIONS:
            crumbs.append((f"/apps/{application}", APPLICATIONS[application]))
        try:
            meta = find(application, table_id)
            raw = _raw_selection(request, meta)
            chosen, row_dim, col_dim, stub, heading = view_selection(store, meta, raw, rows, cols)
            cells_wanted = 1
            for codes in chosen.values():
                cells_wanted *= len(codes)
            if cells_wanted > MAX_SCREEN_CELLS:
                raise InvalidSelection(
                    f"{cells_wanted} cells are too many to show (at most {MAX_SCREEN_CELLS}); "
                    "choose fewer values or download the table"
                )
            cells = store.select(meta.id, chosen)
        except PublishedError as exc:
            return error_page(_error_status(exc), exc.message, crumbs)
        cube = build_cube(meta, cells, stub, heading)
        base = f"/apps/{application}/{meta.id}"
        view_params = [*_params(meta, chosen), ("rows", row_dim), ("cols", col_dim)]
        permalink = f"{base}?{_query(view_params)}"
        download_links = "".join(
            f'<li><a href="{escape(base)}/download?{escape(_query([*view_params, ("format", name)]))}" '
            f'download="{escape(meta.id)}.{escape(fmt.extension)}">{escape(fmt.label)}</a></li>'
            for name, fmt in FORMATS.items()
        )
        api_url = f"/api/v2/tables/{meta.id}/data?{_api_params(meta, chosen, stub, heading)}"
        legend = f'<p class="legend" id="legend"><strong>C</strong>: {escape(SUPPRESSED_LEGEND[3:])}.</p>'
        notes = "".join(f"<li>{escape(n)}</li>" for n in meta.notes)
        total_note = (
            f"<p class='legend'>Variables not shown in rows or columns are at their total ({escape(TOTAL)}) "
            "unless chosen.</p>"
        )
        body = (
            _form(meta, chosen, row_dim, col_dim, base)
            + "<h2>Table</h2>"
            + _pivot_html(cube)
            + legend
            + total_note
            + "<h2>Chart</h2>"
            + _chart_svg(cube)
            + "<h2>Download</h2><ul>"
            + download_links
            + "</ul>"
            + f'<p>Permalink: <a href="{escape(permalink)}" rel="bookmark">{escape(permalink)}</a></p>'
            + f'<p>API query (PxWeb): <a href="{escape(api_url)}">{escape(api_url)}</a></p>'
            + f"<h2>About</h2><p>Source: {escape(meta.source)}. Unit: {escape(meta.unit)}."
            + (f" Updated: {escape(meta.updated)}." if meta.updated else "")
            + "</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
        )
        return page(meta.title, body, crumbs=crumbs)

    @router.get("/apps/{application}/{table_id}/download", summary="The page's selection as a file")
    def download(
        request: Request,
        application: str,
        table_id: str,
        format: str = Query("csv", max_length=40),
        rows: str | None = Query(None, max_length=200),
        cols: str | None = Query(None, max_length=200),
    ) -> Response:
        try:
            meta = find(application, table_id)
            raw = _raw_selection(request, meta, ignore=("format",))
            chosen, _, _, stub, heading = view_selection(store, meta, raw, rows, cols)
            return pxweb.answer_data(store, meta.id, pxweb.DataRequest(chosen, stub, heading), format)
        except PublishedError as exc:
            return error_page(_error_status(exc), exc.message)
        except pxweb.ApiProblem as exc:
            return error_page(exc.status, exc.message)

    return router
