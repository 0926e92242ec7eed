"""The five web applications: navigation, the table page (form, pivot, chart, downloads, permalink)."""

from __future__ import annotations

import csv
import io
import itertools
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from kruispunt.warehouse.api import create_app
from kruispunt.warehouse.apps import APPLICATIONS
from kruispunt.warehouse.schemas import TOTAL
from tests.warehouse.test_published import GLOBAL, HIDDEN, publish_all

PAGE = "/apps/global/global_position"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    publish_all(tmp_path / "tables")
    return TestClient(create_app(tables_dir=tmp_path / "tables"))


class TableReader(HTMLParser):
    """Collects the body of the first ``<table>``: per row, the row headers and the data cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], list[str]]] = []
        self.col_headers: list[str] = []
        self.links: list[dict[str, str]] = []
        self._in_body = self._done = False
        self._cell: str | None = None
        self._kind = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append({k: v or "" for k, v in attrs})
        if self._done:
            return
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append(([], []))
        elif tag in ("th", "td"):
            self._kind = tag + (dict(attrs).get("scope") or "")
            self._text = []
            self._cell = tag

    def handle_data(self, data: str) -> None:
        if self._cell:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._done:
            return
        if tag in ("th", "td") and self._cell:
            text = "".join(self._text).strip()
            if self._in_body:
                (self.rows[-1][0] if self._kind == "throw" else self.rows[-1][1]).append(text)
            elif self._kind == "thcol":
                self.col_headers.append(text)
            self._cell = None
        elif tag == "table":
            self._done = True


def read(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    return reader


def link(reader: TableReader, pattern: str) -> str:
    return next(a["href"] for a in reader.links if re.search(pattern, a.get("href", "")))


def as_numbers(cells: list[str]) -> list[int | None]:
    return [None if c == "C" else int(c) for c in cells]


def test_index_lists_the_five_applications_with_their_tables(client: TestClient) -> None:
    answer = client.get("/apps")
    assert answer.status_code == 200
    assert '<html lang="en">' in answer.text
    for code, title in APPLICATIONS.items():
        assert f'href="/apps/{code}"' in answer.text
        assert title in answer.text
    assert 'href="/apps/global/global_position"' in answer.text
    assert 'href="/apps/local/local_sex"' in answer.text
    local = client.get("/apps/local").text
    assert "/apps/local/local_sex" in local
    assert "global_position" not in local
    assert "No table is published yet" in client.get("/apps/mobility_long").text


def test_unknown_application_table_dimension_or_value_is_an_html_error(client: TestClient) -> None:
    cases = [
        ("/apps/nope", 404),
        ("/apps/global/nope", 404),
        ("/apps/global/local_sex", 404),  # a table of another application
        ("/apps/nope/global_position", 404),
        (f"{PAGE}?colour=red", 400),
        (f"{PAGE}?region=XX", 400),
        (f"{PAGE}?quarter=top(x)", 400),
        (f"{PAGE}?rows=region&cols=region", 400),
        (f"{PAGE}?rows=colour", 400),
        (f"{PAGE}/download?format=sdmx", 400),
        (f"{PAGE}/download?region=XX", 400),
    ]
    for url, status in cases:
        answer = client.get(url)
        assert answer.status_code == status, url
        assert answer.headers["content-type"].startswith("text/html")
        assert 'role="alert"' in answer.text


def test_error_pages_say_what_is_unknown(client: TestClient) -> None:
    assert "there is no application &#x27;nope&#x27;" in client.get("/apps/nope/global_position").text
    assert "no published table with id &#x27;nope&#x27;" in client.get("/apps/global/nope").text
    assert "has no value &#x27;XX&#x27;" in client.get(f"{PAGE}?region=XX").text
    assert "has no variable &#x27;colour&#x27;" in client.get(f"{PAGE}?colour=red").text


def test_hostile_input_is_escaped(client: TestClient) -> None:
    attack = "<script>alert(1)</script>"
    for params in ({"region": attack}, {attack: "x"}, {"rows": attack}):
        answer = client.get(PAGE, params=params)
        assert answer.status_code == 400
        assert "<script>" not in answer.text
        assert "&lt;script&gt;" in answer.text
    page = client.get(PAGE).text
    assert "Brussels &lt;Capital&gt; &amp; Région" in page
    assert "<Capital>" not in page
    assert client.get(PAGE).headers["content-security-policy"].startswith("default-src 'none'")


def test_table_page_is_accessible_and_complete(client: TestClient) -> None:
    answer = client.get(PAGE)
    html = answer.text
    assert '<html lang="en">' in html
    for dim in GLOBAL.dimensions:
        assert f'<label for="dim-{dim.code}">' in html
        assert f'<select multiple size="4" name="{dim.code}" id="dim-{dim.code}">' in html
    assert '<form method="get"' in html
    assert 'name="rows"' in html
    assert 'name="cols"' in html
    assert '<th scope="col">' in html
    assert '<th scope="row">' in html
    assert "<caption>" in html
    assert (
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title chart-desc"' in html
    )
    assert '<title id="chart-title">' in html
    reader = read(html)
    assert reader.col_headers[-4:] == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]  # default: time in columns
    assert [r[0][0] for r in reader.rows] == [
        "Belgium",
        "Flemish Region",
        "Walloon Region",
        unescape("Brussels <Capital> & Région"),
    ]
    for name in ("json-stat2", "csv", "xlsx", "px"):
        assert link(reader, f"download\\?.*format={name}")
    assert link(reader, "^/api/v2/tables/global_position/data")


def test_suppressed_cells_show_c_with_a_legend_and_the_number_is_nowhere(client: TestClient) -> None:
    url = f"{PAGE}?quarter=*&region=*&position=*&rows=position&cols=region"
    html = client.get(url).text
    reader = read(html)
    shown = [c for _, cells in reader.rows for c in cells]
    assert shown.count("C") == 2
    assert 'id="legend"' in html
    assert "confidential" in html
    assert str(HIDDEN) not in html
    for a in reader.links:
        if "/download?" in a["href"]:
            assert str(HIDDEN).encode() not in client.get(a["href"]).content


def jsonstat_grid(data: dict[str, Any]) -> list[int | None]:
    sizes = data["size"]
    assert len(data["value"]) == len(list(itertools.product(*(range(n) for n in sizes))))
    return list(data["value"])


def test_the_page_and_the_api_give_the_same_numbers(client: TestClient) -> None:
    url = f"{PAGE}?region=VLG&region=BRU&quarter=top(3)&position=*&rows=position&cols=region"
    reader = read(client.get(url).text)
    page_numbers = [n for _, cells in reader.rows for n in as_numbers(cells)]
    assert reader.col_headers[-2:] == ["Flemish Region", unescape("Brussels <Capital> & Région")]
    # the same selection asked of the API independently of the page
    api = client.get(
        "/api/v2/tables/global_position/data",
        params={
            "valueCodes[region]": "VLG,BRU",
            "valueCodes[quarter]": "top(3)",
            "valueCodes[position]": "*",
            "stub": "position,quarter",
            "heading": "region",
        },
    ).json()
    assert api["id"] == ["position", "quarter", "region"]
    assert page_numbers == jsonstat_grid(api)
    assert page_numbers.count(None) == 1  # (2024Q2, BRU, 3) is shown as C; (2024Q4, WAL, 2) is not selected
    # the page's own API link and CSV download agree too
    linked = client.get(link(reader, "^/api/v2/")).json()
    assert linked["value"] == api["value"]
    rows = list(csv.DictReader(io.StringIO(client.get(link(reader, "format=csv")).text)))
    assert [None if r["status"] == "C" else int(r["value"]) for r in rows] == api["value"]


def test_permalink_reproduces_the_page(client: TestClient) -> None:
    form_url = f"{PAGE}?quarter=2024Q3&region=WAL&region=VLG&cols=position"
    first = client.get(form_url).text
    permalink = unescape(re.search(r'rel="bookmark">([^<]+)</a>', first).group(1))  # type: ignore[union-attr]
    assert urlsplit(permalink).path == PAGE
    params = parse_qsl(urlsplit(permalink).query)
    assert ("region", "VLG") in params
    assert ("cols", "position") in params
    assert ("rows", "region") in params
    again = client.get(permalink).text
    assert read(again).rows == read(first).rows
    assert read(again).col_headers == read(first).col_headers
    assert read(first).col_headers[2:] == ["All positions", "Working", "Job seeker", "Inactive"]


def test_pivot_choice_changes_rows_and_columns(client: TestClient) -> None:
    reader = read(client.get(f"{PAGE}?rows=quarter&cols=position&position=*").text)
    assert [r[0][0] for r in reader.rows] == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]
    assert reader.col_headers[-4:] == ["All positions", "Working", "Job seeker", "Inactive"]


def test_downloads_follow_the_pivot_and_every_format_works(client: TestClient) -> None:
    base = f"{PAGE}/download?region=*&rows=region&cols=quarter"
    for name, media in (
        ("csv", "text/csv"),
        ("xlsx", "application/vnd"),
        ("px", "application/octet"),
        ("json-stat2", "application/json"),
    ):
        answer = client.get(f"{base}&format={name}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(media)
    data = client.get(f"{base}&format=json-stat2").json()
    assert data["id"] == ["region", "position", "quarter"]
    assert data["dimension"]["position"]["category"]["index"] == {TOTAL: 0}


def test_one_dimension_table(client: TestClient) -> None:
    html = client.get("/apps/household/household_size").text
    reader = read(html)
    assert reader.rows[0][0] == ["persons"]
    assert '<th scope="colgroup" colspan="4">Quarter</th>' in html
    assert len(reader.rows) == 1
    assert len(reader.rows[0][1]) == 4
