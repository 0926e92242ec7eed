"""The published tables through a subset of PxWebApi 2.0, so that existing clients (pxwebpy, R pxweb) work.

Why a subset: the warehouse has no code lists, no contents variable and one language; what it serves
(``/config``, ``/tables``, ``/tables/{id}``, ``/tables/{id}/metadata`` as JSON-stat 2.0 and
``/tables/{id}/data`` by GET or POST with the PxWeb selection expressions) follows the PxWebApi 2 spec
(``PxTools/PxApiSpecs``). Errors are answered as PxWebApi does, an RFC 9457 problem (``type``, ``title``,
``status``, ``detail``) with the kruispunt ``error`` object alongside: 400 for a bad selection, 404 for an
unknown table, never a 500 for bad input.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from kruispunt.core.web import BodyTooLarge, JSONResponse, error_body, read_body_limited
from kruispunt.warehouse.formats import FORMATS, layout, metadata_jsonstat, render
from kruispunt.warehouse.published import (
    InvalidSelection,
    PublishedError,
    TableStore,
    UnknownDimension,
    UnknownTable,
    UnknownValue,
)
from kruispunt.warehouse.schemas import Dimension, TableMeta

API_VERSION = "2.0.0"
LANGUAGES = ({"id": "en", "label": "English"},)
DEFAULT_LANGUAGE = "en"
MAX_DATA_CELLS = 150_000
MAX_BODY_BYTES = 1_000_000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000

_FUNCTION = re.compile(r"^\s*(top|bottom|from|to|range)\s*\((.*)\)\s*$", re.IGNORECASE)
_BRACKETED = re.compile(r"^(valueCodes|codelist|outputValues)\[(.+)\]$", re.IGNORECASE)


# ------------------------------------------------------------------------------------- selection syntax


def split_codes(text: str) -> list[str]:
    """Split a GET ``valueCodes`` value on commas, except those inside ``range(a,b)`` or ``top(n,o)``."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _count(text: str, what: str) -> int:
    if not text.strip().isdigit():
        raise InvalidSelection(f"{what} must be a whole number, not {text.strip()!r}")
    return int(text.strip())


def _position(dim: Dimension, code: str) -> int:
    codes = dim.codes()
    code = code.strip()
    if code not in codes:
        raise UnknownValue(dim.code, code)
    return codes.index(code)


def wildcard_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` as a whole, ``*`` any characters and ``?`` one character.

    Why not a regular expression: ``.*`` repeated is matched by backtracking, so a selection such as
    ``********************Z`` held a worker for a minute per code. This greedy matcher with one back-up point
    takes at most ``len(pattern) * len(text)`` steps.
    """
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, t
            p += 1
        elif star >= 0:
            p, resume = star + 1, resume + 1
            t = resume
        else:
            return False
    return all(c == "*" for c in pattern[p:])


def expand_codes(dim: Dimension, expressions: Sequence[str]) -> list[str]:
    """The codes of ``dim`` chosen by PxWeb selection expressions, in the dimension's order.

    ``*`` and ``?`` are wildcards (any characters, one character); ``top(n[,offset])`` and
    ``bottom(n[,offset])`` take n values from the start or end of the list (for a time dimension, whose
    values run oldest first, ``top`` takes the *latest* n, as PxWeb does, so a permalink with ``top(4)``
    stays current); ``from(x)``, ``to(x)`` and ``range(a,b)`` are inclusive. Anything else is a code.
    """
    codes = list(dim.codes())
    chosen: set[str] = set()
    for expression in expressions:
        expression = expression.strip()
        match = _FUNCTION.match(expression)
        if match:
            name, args_text = match.group(1).lower(), match.group(2)
            args = [a.strip() for a in args_text.split(",")]
            if name in ("top", "bottom"):
                if len(args) not in (1, 2):
                    raise InvalidSelection(f"{name}() takes a count and an optional offset: {expression!r}")
                n = _count(args[0], f"the count of {name}()")
                offset = _count(args[1], f"the offset of {name}()") if len(args) == 2 else 0
                from_end = (name == "top") == dim.time
                ordered = list(reversed(codes)) if from_end else codes
                chosen.update(ordered[offset : offset + n])
            elif name in ("from", "to"):
                if len(args) != 1:
                    raise InvalidSelection(f"{name}() takes one value code: {expression!r}")
                at = _position(dim, args[0])
                chosen.update(codes[at:] if name == "from" else codes[: at + 1])
            else:
                if len(args) != 2:
                    raise InvalidSelection(f"range() takes two value codes: {expression!r}")
                lo, hi = _position(dim, args[0]), _position(dim, args[1])
                if lo > hi:
                    raise InvalidSelection(
                        f"range({args[0]},{args[1]}): the first value comes after the second"
                    )
                chosen.update(codes[lo : hi + 1])
        elif "*" in expression or "?" in expression:
            chosen.update(c for c in codes if wildcard_match(expression, c))
        elif "(" in expression and expression.endswith(")"):
            raise InvalidSelection(
                f"unknown selection expression {expression!r}; use top(), bottom(), from(), to() or range()"
            )
        else:
            if expression not in codes:
                raise UnknownValue(dim.code, expression)
            chosen.add(expression)
    result = [c for c in codes if c in chosen]
    if not result:
        raise InvalidSelection(f"the selection for variable {dim.code!r} matches no value")
    return result


def find_dimension(meta: TableMeta, name: str) -> Dimension:
    """A dimension by its code (exactly, else case-insensitively as PxWeb does)."""
    for dim in meta.dimensions:
        if dim.code == name:
            return dim
    folded = [d for d in meta.dimensions if d.code.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise UnknownDimension(meta.id, name, tuple(d.code for d in meta.dimensions))


def resolve_selection(meta: TableMeta, raw: dict[str, list[str]]) -> dict[str, list[str]]:
    """Selection expressions per variable → the codes per dimension, ready for :meth:`TableStore.select`."""
    resolved: dict[str, list[str]] = {}
    for name, expressions in raw.items():
        dim = find_dimension(meta, name)
        if dim.code in resolved:
            resolved[dim.code] = sorted(
                set(resolved[dim.code]) | set(expand_codes(dim, expressions)), key=dim.codes().index
            )
        else:
            resolved[dim.code] = expand_codes(dim, expressions)
    return resolved


@dataclass(frozen=True)
class DataRequest:
    """What a ``/data`` call asks for, once parsed (from the query string or the POST body)."""

    selection: dict[str, list[str]]
    stub: tuple[str, ...]
    heading: tuple[str, ...]


def cell_count(store: TableStore, meta: TableMeta, selection: dict[str, list[str]]) -> int:
    return math.prod(len(codes) for codes in store.resolve(meta, selection).values())


# ---------------------------------------------------------------------------------------------- answers


class ApiProblem(Exception):
    """An answer other than a selection error (unsupported format or language, too many cells)."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


_TITLES = {400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "error"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "error": {"$ref": "#/components/schemas/ErrorDetail"},
    },
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": title, "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
    for status, title in _TITLES.items()
}
"""How :func:`problem` answers are documented on every PxWeb route."""


def problem(status: int, code: str, message: str, instance: str = "", **details: Any) -> Response:
    """A PxWebApi-style problem answer (also carrying the kruispunt ``error`` object)."""
    body: dict[str, Any] = {
        "type": f"https://httpstatuses.io/{status}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": message,
    }
    if instance:
        body["instance"] = instance
    body.update(error_body(code, message, **details))
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _from_error(exc: PublishedError, instance: str) -> Response:
    if isinstance(exc, UnknownTable):
        return problem(404, "UNKNOWN_TABLE", exc.message, instance, table=exc.table_id)
    if isinstance(exc, UnknownDimension):
        return problem(400, "UNKNOWN_VARIABLE", exc.message, instance, variable=exc.dimension)
    if isinstance(exc, UnknownValue):
        return problem(400, "UNKNOWN_VALUE", exc.message, instance, variable=exc.dimension, value=exc.value)
    return problem(400, "INVALID_SELECTION", exc.message, instance)


def _lang_ok(lang: str | None) -> bool:
    return lang is None or lang in {language["id"] for language in LANGUAGES}


def _check_lang(lang: str | None) -> None:
    if not _lang_ok(lang):
        raise ApiProblem(
            400, "UNSUPPORTED_LANGUAGE", f"language {lang!r} is not available; use 'en'", lang=lang
        )


def _answered(request: Request, lang: str | None, work: Callable[[], Response]) -> Response:
    """Check ``lang``, then run ``work``; an ApiProblem or PublishedError becomes the problem answer.

    Why one place: every route must answer bad input as a PxWeb problem, never as a 500.
    """
    try:
        _check_lang(lang)
        return work()
    except ApiProblem as exc:
        return problem(exc.status, exc.code, exc.message, request.url.path, **exc.details)
    except PublishedError as exc:
        return _from_error(exc, request.url.path)


def _period_bounds(meta: TableMeta) -> tuple[str | None, str | None]:
    time = next((d for d in meta.dimensions if d.time), None)
    if time is None or not time.values:
        return None, None
    return time.values[0].code, time.values[-1].code


def _links(request: Request, table_id: str) -> list[dict[str, str]]:
    return [
        {
            "rel": "self",
            "hreflang": DEFAULT_LANGUAGE,
            "href": str(request.url_for("pxweb_table", id=table_id)),
        },
        {
            "rel": "metadata",
            "hreflang": DEFAULT_LANGUAGE,
            "href": str(request.url_for("pxweb_metadata", id=table_id)),
        },
        {
            "rel": "data",
            "hreflang": DEFAULT_LANGUAGE,
            "href": str(request.url_for("pxweb_data_get", id=table_id)),
        },
    ]


def table_item(request: Request, meta: TableMeta) -> dict[str, Any]:
    """A table as PxWebApi lists it (``Table`` in the spec)."""
    first, last = _period_bounds(meta)
    return {
        "type": "Table",
        "id": meta.id,
        "label": meta.title,
        "description": meta.title,
        "updated": meta.updated or None,
        "firstPeriod": first,
        "lastPeriod": last,
        "category": "public",
        "variableNames": [d.label for d in meta.dimensions],
        "source": meta.source,
        "subjectCode": meta.application,
        "discontinued": False,
        "links": _links(request, meta.id),
    }


def _matches(meta: TableMeta, words: list[str]) -> bool:
    haystack = " ".join(
        [meta.id, meta.title, meta.application, *(d.label for d in meta.dimensions)]
        + [d.code for d in meta.dimensions]
        + [v.label for d in meta.dimensions for v in d.values]
    ).casefold()
    return all(word in haystack for word in words)


def parse_query_selection(request: Request) -> DataRequest:
    """The selection from ``valueCodes[VAR]=a,b`` (repeatable), ``codelist``, ``outputValues``, placement.

    Why by hand: FastAPI cannot declare parameters whose names carry the variable code.
    """
    selection: dict[str, list[str]] = {}
    stub: list[str] = []
    heading: list[str] = []
    for key, value in request.query_params.multi_items():
        match = _BRACKETED.match(key)
        if match:
            kind, variable = match.group(1).lower(), match.group(2)
            if kind == "valuecodes":
                selection.setdefault(variable, []).extend(split_codes(value))
            elif kind == "codelist" and value.strip():
                raise InvalidSelection(
                    f"code lists are not available for these tables (codelist[{variable}])"
                )
            elif kind == "outputvalues" and value.strip().lower() not in ("", "aggregated", "single"):
                raise InvalidSelection(f"outputValues[{variable}] must be 'aggregated' or 'single'")
        elif key == "stub":
            stub += split_codes(value)
        elif key == "heading":
            heading += split_codes(value)
    for variable, codes in selection.items():
        if not codes:
            raise InvalidSelection(f"valueCodes[{variable}] is empty")
    return DataRequest(selection, tuple(stub), tuple(heading))


def parse_body_selection(body: bytes) -> DataRequest:
    """The POST body ``{"selection": [{"variableCode": …, "valueCodes": […]}], "placement": {…}}``."""
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSelection(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise InvalidSelection("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidSelection("the request body must be a JSON object with a 'selection' list")
    items = data.get("selection")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise InvalidSelection("'selection' must be a list of {variableCode, valueCodes}")
    selection: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("variableCode"), str):
            raise InvalidSelection("each selection item needs a 'variableCode' string")
        codes = item.get("valueCodes")
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise InvalidSelection(
                f"valueCodes of {item['variableCode']!r} must be a non-empty list of strings"
            )
        if item.get("codelist"):
            raise InvalidSelection("code lists are not available for these tables")
        selection.setdefault(item["variableCode"], []).extend(codes)
    placement = data.get("placement")
    placement = {} if placement is None else placement
    if not isinstance(placement, dict):
        raise InvalidSelection("'placement' must be an object with 'stub' and 'heading' lists")
    stub, heading = placement.get("stub", []), placement.get("heading", [])
    stub, heading = [] if stub is None else stub, [] if heading is None else heading
    if not all(isinstance(x, list) and all(isinstance(c, str) for c in x) for x in (stub, heading)):
        raise InvalidSelection("'placement.stub' and 'placement.heading' must be lists of variable codes")
    return DataRequest(selection, tuple(stub), tuple(heading))


def answer_data(store: TableStore, table_id: str, wanted: DataRequest, output_format: str) -> Response:
    """The selected cells in ``output_format``; raises :class:`PublishedError` or ``ApiProblem`` if bad."""
    fmt_name = output_format.strip().lower()
    if fmt_name not in FORMATS:
        raise ApiProblem(
            400,
            "UNSUPPORTED_FORMAT",
            f"outputFormat {output_format!r} is not supported; use one of {', '.join(FORMATS)}",
        )
    meta, _ = store.load(table_id)
    selection = resolve_selection(meta, wanted.selection)
    cells_wanted = cell_count(store, meta, selection)
    if cells_wanted > MAX_DATA_CELLS:
        raise ApiProblem(
            400, "TOO_MANY_CELLS", f"too many cells selected ({cells_wanted}; at most {MAX_DATA_CELLS})"
        )
    try:
        stub, heading = layout(
            meta,
            [find_dimension(meta, c).code for c in wanted.stub],
            [find_dimension(meta, c).code for c in wanted.heading],
        )
    except ValueError as exc:
        raise InvalidSelection(str(exc)) from exc
    cells = store.select(meta.id, selection)
    content, fmt = render(fmt_name, meta, cells, stub, heading)
    headers = {}
    if fmt.name != "json-stat2":
        headers["Content-Disposition"] = f'attachment; filename="{meta.id}.{fmt.extension}"'
    return Response(content, media_type=fmt.media_type, headers=headers)


# ----------------------------------------------------------------------------------------------- router


def create_router(store: TableStore) -> APIRouter:
    """Routes under ``/api/v2``: ``/config``, ``/tables``, ``/tables/{id}``, ``…/metadata``, ``…/data``."""
    router = APIRouter(prefix="/api/v2", tags=["pxweb"], responses=PROBLEM_RESPONSES)

    @router.get("/config", summary="API configuration (PxWebApi ConfigResponse)")
    def config() -> Response:
        return JSONResponse(
            {
                "apiVersion": API_VERSION,
                "appVersion": "kruispunt-0.1.0",
                "languages": list(LANGUAGES),
                "defaultLanguage": DEFAULT_LANGUAGE,
                "maxDataCells": MAX_DATA_CELLS,
                "maxCallsPerTimeWindow": 0,
                "timeWindow": 0,
                "sourceReferences": [],
                "license": "CC-BY-4.0",
                "defaultDataFormat": "json-stat2",
                "dataFormats": list(FORMATS),
                "features": [],
            }
        )

    @router.get("/tables", summary="List and search the published tables")
    def tables(
        request: Request,
        query: str | None = Query(None, max_length=500, description="Words that must all occur."),
        lang: str | None = Query(None, max_length=20),
        pastDays: int | None = Query(None, ge=1, le=100_000),
        includeDiscontinued: bool = Query(False),
        pageNumber: int = Query(1, ge=1, le=1_000_000),
        pageSize: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    ) -> Response:
        def listing() -> Response:
            instance = request.url.path
            found = store.tables()
            if query:
                words = [w.casefold() for w in query.split()]
                found = [m for m in found if _matches(m, words)]
            if pastDays is not None:
                cutoff = (datetime.now(UTC) - timedelta(days=pastDays)).strftime("%Y-%m-%d")
                found = [m for m in found if m.updated and m.updated[:10] >= cutoff]
            total = len(found)
            pages = max(math.ceil(total / pageSize), 1)
            if pageNumber > pages:
                return problem(
                    400, "NO_SUCH_PAGE", f"page {pageNumber} does not exist (there are {pages})", instance
                )
            page = found[(pageNumber - 1) * pageSize : pageNumber * pageSize]
            links = []
            if pageNumber < pages:
                links.append(
                    {
                        "rel": "next",
                        "hreflang": DEFAULT_LANGUAGE,
                        "href": str(request.url.include_query_params(pageNumber=pageNumber + 1)),
                    }
                )
            if pageNumber > 1:
                links.append(
                    {
                        "rel": "previous",
                        "hreflang": DEFAULT_LANGUAGE,
                        "href": str(request.url.include_query_params(pageNumber=pageNumber - 1)),
                    }
                )
            return JSONResponse(
                {
                    "language": DEFAULT_LANGUAGE,
                    "tables": [table_item(request, m) for m in page],
                    "page": {
                        "pageNumber": pageNumber,
                        "pageSize": pageSize,
                        "totalElements": total,
                        "totalPages": pages,
                        "links": links,
                    },
                    "links": [{"rel": "self", "hreflang": DEFAULT_LANGUAGE, "href": str(request.url)}],
                }
            )

        return _answered(request, lang, listing)

    @router.get("/tables/{id}", name="pxweb_table", summary="One table's description")
    def table(request: Request, id: str, lang: str | None = Query(None, max_length=20)) -> Response:
        return _answered(
            request,
            lang,
            lambda: JSONResponse({"language": DEFAULT_LANGUAGE, **table_item(request, store.meta(id))}),
        )

    @router.get(
        "/tables/{id}/metadata", name="pxweb_metadata", summary="The table's metadata (JSON-stat 2.0)"
    )
    def metadata(
        request: Request,
        id: str,
        lang: str | None = Query(None, max_length=20),
        outputFormat: str = Query("json-stat2", max_length=40),
    ) -> Response:
        def jsonstat() -> Response:
            if outputFormat.lower() != "json-stat2":
                raise ApiProblem(
                    400,
                    "UNSUPPORTED_FORMAT",
                    f"metadata outputFormat {outputFormat!r} is not supported; use json-stat2",
                )
            meta, _ = store.load(id)
            body = metadata_jsonstat(meta)
            body["href"] = str(request.url_for("pxweb_metadata", id=meta.id))
            body["link"] = {"data": [{"href": str(request.url_for("pxweb_data_get", id=meta.id))}]}
            return JSONResponse(body)

        return _answered(request, lang, jsonstat)

    @router.get(
        "/tables/{id}/data", name="pxweb_data_get", summary="Data for a selection (valueCodes[VAR]=…)"
    )
    def data_get(
        request: Request,
        id: str,
        lang: str | None = Query(None, max_length=20),
        outputFormat: str = Query("json-stat2", max_length=40),
    ) -> Response:
        return _answered(
            request, lang, lambda: answer_data(store, id, parse_query_selection(request), outputFormat)
        )

    @router.post("/tables/{id}/data", name="pxweb_data_post", summary="Data for a selection in the body")
    async def data_post(
        request: Request,
        id: str,
        lang: str | None = Query(None, max_length=20),
        outputFormat: str = Query("json-stat2", max_length=40),
    ) -> Response:
        body: bytes | None = None  # None: too large, or not read because the language is refused first
        if _lang_ok(lang):
            with contextlib.suppress(BodyTooLarge):
                body = await read_body_limited(request, MAX_BODY_BYTES)

        def selected() -> Response:
            if body is None:
                raise ApiProblem(413, "BODY_TOO_LARGE", f"request body larger than {MAX_BODY_BYTES} bytes")
            return answer_data(store, id, parse_body_selection(body), outputFormat)

        return _answered(request, lang, selected)

    return router
