"""DmfA XML: read an original (``DmfAOriginal``) or a modification (``DmfAUpdate``) **streamed**, write one
streamed, and export a stored declaration.

Why streamed: a DmfA file of a large employer or a social secretariat holds 100 000 worker records and more.
The reader validates against the official XSD while it parses (lxml ``iterparse`` with the schema, the
hardened options of :mod:`xmlsafe`, DOCTYPE refused), yields each Form's header as soon as its first
natural person is complete, then each natural person as a plain dict, then the Form's tail (company vehicles,
contributions not linked to a person), and frees every element it has yielded: memory stays bounded.

The dicts use the XML names as keys (``{"INSS": "…", "WorkerRecord": [{"WorkerCode": "015", …}]}``); which
children repeat (lists), which leaves are integers and in which order children are written are all read from
the XSD itself (:class:`Layout`), so the reader, the writer and the JSON channel share one shape. Integer
zones with a lexical pattern (``WorkerCode`` ``\\d{3}``, ``INSS``, ``CompanyID``, ``Quarter``) stay strings
so that ``015`` keeps its zero. Keys starting with ``_`` (``_line``) are ours and never written.

Schema errors: libxml2 validates a stream block by block and reports the error without a line, after the
events of that block may already have been yielded. The reader watches the error log at every block it
feeds and stops at the first error; :func:`locate_schema_error` then finds the exact line in a second pass
over the (spooled, seekable) file, feeding it line by line around the faulty block. The caller must not
have made anything it received permanent: ``employers.dmfa`` processes one file in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import IO, Any, Literal

from lxml import etree
from sqlalchemy import Connection, select

from kruispunt.employers import xmlsafe
from kruispunt.employers.models import dmfa_declaration_table, dmfa_worker_record_table
from kruispunt.employers.xmlsafe import XmlRefused

_XS = "{http://www.w3.org/2001/XMLSchema}"

Kind = Literal["original", "update"]


@dataclass(frozen=True)
class Shape:
    """The names of one kind of DmfA document."""

    schema: str
    root: str
    declaration: str
    person: str
    record: str
    occupation: str
    identification: str
    attestation_status: int


SHAPES: dict[Kind, Shape] = {
    "original": Shape(
        "dmfa",
        "DmfAOriginal",
        "EmployerDeclaration",
        "NaturalPerson",
        "WorkerRecord",
        "Occupation",
        "DMFA",
        0,
    ),
    "update": Shape(
        "dmfa_update",
        "DmfAUpdate",
        "EmployerDeclarationUpdate",
        "NaturalPersonUpdate",
        "WorkerRecordUpdate",
        "OccupationUpdate",
        "DMFAUPD",
        1,
    ),
}


# ------------------------------------------------------------------------------------------ the XSD layout


@dataclass
class Layout:
    """What the reader and the writer need to know of an XSD, per element name."""

    order: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The children of a complex element, in schema order (base type first, then the extension)."""
    repeat: set[str] = field(default_factory=set)
    """Elements that may occur more than once somewhere (always lists in the dicts)."""
    ints: set[str] = field(default_factory=set)
    """Integer leaves without a lexical pattern (read as ``int``)."""
    zones: dict[str, str] = field(default_factory=dict)
    """The zone or functional-block code of every element (its ``xs:documentation``)."""


def _max_many(node: etree._Element) -> bool:
    value = node.get("maxOccurs", "1")
    return value == "unbounded" or int(value) > 1


@cache
def layout(schema_name: str) -> Layout:
    """The layout of one of the official XSDs (``dmfa`` or ``dmfa_update``), read once."""
    path = resources.files("kruispunt.employers") / "data" / "xsd" / xmlsafe.SCHEMAS[schema_name]
    root = etree.fromstring(path.read_bytes(), parser=xmlsafe._parser())
    types = {t.get("name"): t for t in root.findall(f"{_XS}complexType")}
    out = Layout()

    def children(node: etree._Element, many: bool, acc: list[str]) -> None:
        for child in node:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "element":
                ref = child.get("ref") or child.get("name")
                if ref is None or child.get("maxOccurs") == "0":
                    continue
                if ref not in acc:
                    acc.append(ref)
                if many or _max_many(child):
                    out.repeat.add(ref)
            elif name in ("sequence", "choice", "all"):
                children(child, many or _max_many(child), acc)
            elif name in ("complexContent", "extension"):
                if name == "extension" and child.get("base") in types:
                    children(types[str(child.get("base"))], many, acc)
                children(child, many, acc)

    for el in root.findall(f"{_XS}element"):
        name = str(el.get("name"))
        doc = el.findtext(f"{_XS}annotation/{_XS}documentation")
        if doc:
            out.zones[name] = doc.strip()
        complex_type = el.find(f"{_XS}complexType")
        if complex_type is None and el.get("type") in types:
            complex_type = types[str(el.get("type"))]
        if complex_type is not None:
            acc: list[str] = []
            children(complex_type, False, acc)
            out.order[name] = tuple(acc)
            continue
        restriction = el.find(f"{_XS}simpleType/{_XS}restriction")
        if (
            restriction is not None
            and restriction.get("base") == "xs:integer"
            and restriction.find(f"{_XS}pattern") is None
        ):
            out.ints.add(name)
    return out


def zone(schema_name: str, element: str) -> str:
    """The zone code of an element (``"INSS"`` → ``"00024"``)."""
    return layout(schema_name).zones.get(element, "00000")


def to_dict(element: etree._Element, lay: Layout) -> dict[str, Any]:
    """An element as a plain dict (children by name, lists where the XSD lets them repeat)."""
    out: dict[str, Any] = {}
    order, repeat, ints = lay.order, lay.repeat, lay.ints
    for child in element:
        tag = child.tag
        value: Any
        if tag in order:
            value = to_dict(child, lay)
        elif tag in ints:
            try:
                value = int(child.text or 0)
            except ValueError:  # schema-invalid: the reader reports it one block later at most
                value = (child.text or "").strip()
        elif isinstance(tag, str):
            value = (child.text or "").strip()
        else:  # a comment or processing instruction (the reader removes them; a caller may not)
            continue
        if tag in repeat:
            out.setdefault(tag, []).append(value)
        else:
            out[tag] = value
    return out


# ------------------------------------------------------------------------------------------------ reading


@dataclass
class FormHead:
    """A Form's header: its own zones (Identification, Reference …) and its declaration's header zones."""

    index: int
    line: int | None
    form: dict[str, Any]
    declaration: dict[str, Any]


@dataclass
class Person:
    """One natural person of the current Form (``data`` as :func:`to_dict`, ``line`` in the file)."""

    index: int
    line: int | None
    data: dict[str, Any]
    records_lines: list[int | None]
    occupations_lines: list[list[int | None]]


@dataclass
class FormTail:
    """The end of a Form: what follows the natural persons (company vehicles, contributions not linked
    to a natural person, employer compensation)."""

    index: int
    rest: dict[str, Any]


Event = FormHead | Person | FormTail


class _Feed:
    """The file as libxml2 reads it: remembers which lines each block held and stops at the first schema
    error seen in the error log (returning end-of-file), so that the error is known one block late at most.
    ``fine_from``: from that byte offset on, feed one line per read (to locate an error exactly)."""

    def __init__(self, raw: IO[bytes], *, fine_from: int | None = None) -> None:
        self.raw = raw
        self.fine_from = fine_from
        self.offset = 0
        self.line = 1
        self.window: tuple[int, int, int] = (0, 1, 1)
        """(byte offset, first line, last line) of the last block fed."""
        self.previous: tuple[int, int, int] = (0, 1, 1)
        self.ctx: Any = None
        self.failed: tuple[int, int, int] | None = None
        self.error: str | None = None
        head = raw.read(4096)
        xmlsafe._refuse_doctype(head)
        self._head = head

    def _errors(self) -> str | None:
        if self.ctx is None:
            return None
        log = self.ctx.error_log
        if not len(log):
            return None
        for error in log.filter_from_errors():
            if error.domain_name == "SCHEMASV":
                return str(error.message)
        return None

    def syntax_error(self, exc: etree.XMLSyntaxError) -> XmlRefused:
        """The first well-formedness error. Watching the error log while parsing costs libxml2 the line of
        a syntax error ("no element found"): then the file is read again without the schema to find it."""
        if exc.lineno:
            return XmlRefused(f"not well-formed XML: {exc.msg}", line=exc.lineno, column=exc.offset)
        try:
            self.raw.seek(0)
            context = etree.iterparse(
                self.raw,
                events=("end",),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            )
            for _event, element in context:
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as again:
            return XmlRefused(
                f"not well-formed XML: {again.msg}", line=again.lineno or None, column=again.offset or None
            )
        except (OSError, ValueError, AttributeError):
            pass
        return XmlRefused(f"not well-formed XML: {exc.msg}")

    def read(self, size: int = 65536) -> bytes:
        if self.failed is not None:
            return b""
        message = self._errors()
        if message is not None:
            self.failed, self.error = self.window, message
            return b""
        if self._head:
            cut = size
            if self.fine_from is not None and self.offset >= self.fine_from:
                newline = self._head.find(b"\n", 0, size)
                cut = newline + 1 if newline >= 0 else size
            data, self._head = self._head[:cut], self._head[cut:]
        elif self.fine_from is not None and self.offset >= self.fine_from:
            data = self.raw.readline(min(size, 65536))
        else:
            want = size if self.fine_from is None else max(1, min(size, self.fine_from - self.offset))
            data = self.raw.read(want)
        lines = data.count(b"\n")
        self.previous = self.window
        self.window = (self.offset, self.line, self.line + lines)
        self.offset += len(data)
        self.line += lines
        return data


def _iterparse(feed: _Feed, shape: Shape, tags: tuple[str, ...]) -> Any:
    ctx = etree.iterparse(
        feed,
        events=("end",),
        tag=tags,
        schema=xmlsafe.schema(shape.schema),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    feed.ctx = ctx
    return ctx


def read_forms(fileobj: IO[bytes], *, kind: Kind = "original") -> Iterator[Event]:
    """Every Form of a DmfA file, in order, as events: :class:`FormHead` (before its first person),
    :class:`Person` for each natural person, :class:`FormTail` at its end.

    Raises :class:`XmlRefused` when the file is hostile, not well-formed, or not valid against the XSD (with
    the line when it can be told; see :func:`locate_schema_error`).
    """
    shape = SHAPES[kind]
    lay = layout(shape.schema)
    feed = _Feed(fileobj)
    ctx = _iterparse(feed, shape, (shape.person, "Form", shape.root))
    form_index = 0
    person_index = 0
    head_sent = False
    complete = False
    last: etree._Element | None = None
    try:
        for _event, element in ctx:
            last = element
            tag = element.tag
            if not form_index and not head_sent:
                _check_document(element, shape)
            if tag == shape.root:
                complete = True
            elif tag == shape.person:
                declaration = element.getparent()
                if not head_sent:
                    form_index += 1
                    person_index = 0
                    yield _head(declaration, form_index, lay, shape)
                    head_sent = True
                person_index += 1
                yield _person(element, person_index, lay, shape)
                element.clear(keep_tail=False)
                previous = element.getprevious()
                if previous is not None and previous.tag == shape.person:
                    declaration.remove(previous)
            else:  # Form
                declaration = element.find(shape.declaration)
                if not head_sent:
                    form_index += 1
                    yield _head(declaration, form_index, lay, shape)
                rest: dict[str, Any] = {}
                if declaration is not None:
                    for child in declaration:
                        if child.tag in lay.order and child.tag != shape.person:
                            rest.setdefault(child.tag, []).append(to_dict(child, lay))
                yield FormTail(form_index, rest)
                head_sent = False
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
        if feed.failed is None:
            message = feed._errors()
            if message is not None:
                feed.failed, feed.error = feed.window, message
    except etree.XMLSyntaxError as exc:
        if feed.failed is None:
            message = feed._errors()
            if message is None and "validity" not in str(exc):
                raise feed.syntax_error(exc) from exc
            feed.failed, feed.error = feed.previous, message or str(exc.msg)
    if feed.failed is not None:
        raise locate_schema_error(fileobj, shape, feed.failed, feed.error or "invalid")
    if last is None:
        raise XmlRefused(
            f"not well-formed XML: no complete element of a {shape.root} document", line=feed.line
        )
    _check_document(last, shape)
    if not complete:
        raise XmlRefused(f"not well-formed XML: the document ends before </{shape.root}>", line=feed.line)


def _check_document(element: etree._Element | None, shape: Shape) -> None:
    """The document element is the expected one (every element of these XSDs is global: a lone ``Form`` is
    schema-valid), and there is no DOCTYPE (refused even past the first 4 KB that :mod:`xmlsafe` looks at)."""
    root = element.getroottree().getroot() if element is not None else None
    if root is None or root.tag != shape.root:
        found = None if root is None else root.tag
        raise XmlRefused(f"the document element must be {shape.root}, not {found}", line=1)
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise XmlRefused("a DOCTYPE is not accepted in a declaration", line=1)


def _head(declaration: etree._Element | None, index: int, lay: Layout, shape: Shape) -> FormHead:
    form: dict[str, Any] = {}
    header: dict[str, Any] = {}
    line = None
    if declaration is not None:
        form_el = declaration.getparent()
        if form_el is not None:
            line = _line(form_el)
            for child in form_el:
                if child.tag != shape.declaration and isinstance(child.tag, str):
                    form[child.tag] = to_dict(child, lay) if child.tag in lay.order else _leaf(child, lay)
        for child in declaration:
            if child.tag in lay.order:
                break
            if isinstance(child.tag, str):
                header[child.tag] = _leaf(child, lay)
    return FormHead(index, line, form, header)


def _leaf(element: etree._Element, lay: Layout) -> Any:
    text = (element.text or "").strip()
    return int(text) if element.tag in lay.ints else text


def _line(element: etree._Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _person(element: etree._Element, index: int, lay: Layout, shape: Shape) -> Person:
    data = to_dict(element, lay)
    records_lines: list[int | None] = []
    occupations_lines: list[list[int | None]] = []
    for record in element.iterchildren(shape.record):
        records_lines.append(_line(record))
        container = (
            record.find("WorkerRecordUpdateAction") if shape.record == "WorkerRecordUpdate" else record
        )
        occupations_lines.append(
            [_line(o) for o in container.iterchildren(shape.occupation)] if container is not None else []
        )
    return Person(index, _line(element), data, records_lines, occupations_lines)


def first_error(fileobj: IO[bytes], *, kind: Kind = "original") -> XmlRefused | None:
    """Read the whole (seekable) file again, validating only, and return its first error (None when the
    file is valid). Used when processing failed on data that the streamed validation had not yet refused:
    the schema error, if any, is the real cause."""
    try:
        fileobj.seek(0)
        for _ in _validate_only(fileobj, SHAPES[kind]):
            pass
    except XmlRefused as exc:
        return exc
    except (OSError, ValueError, AttributeError):
        return None
    return None


def _validate_only(fileobj: IO[bytes], shape: Shape) -> Iterator[None]:
    feed = _Feed(fileobj)
    ctx = _iterparse(feed, shape, (shape.person, "Form", shape.root))
    complete = False
    last: etree._Element | None = None
    try:
        for _event, element in ctx:
            last = element
            complete = complete or element.tag == shape.root
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
            yield None
    except etree.XMLSyntaxError as exc:
        if feed.failed is None and feed._errors() is None:
            raise feed.syntax_error(exc) from exc
        if feed.failed is None:
            feed.failed, feed.error = feed.previous, feed._errors()
    if feed.failed is not None:
        raise locate_schema_error(fileobj, shape, feed.failed, feed.error or "invalid")
    if last is None:
        raise XmlRefused(
            f"not well-formed XML: no complete element of a {shape.root} document", line=feed.line
        )
    _check_document(last, shape)
    if not complete:
        raise XmlRefused(f"not well-formed XML: the document ends before </{shape.root}>", line=feed.line)


def locate_schema_error(
    fileobj: IO[bytes], shape: Shape, window: tuple[int, int, int], message: str
) -> XmlRefused:
    """The schema error as :class:`XmlRefused` with its line: re-read the file (when it can be) feeding it
    one line at a time from the block where the error was seen; otherwise the block's first line."""
    offset, first_line, _last = window
    text = f"not valid against {xmlsafe.SCHEMAS[shape.schema]}: {message}"
    try:
        fileobj.seek(0)
    except (OSError, ValueError, AttributeError):
        return XmlRefused(text, line=first_line)
    feed = _Feed(fileobj, fine_from=max(0, offset - 65536))
    ctx = _iterparse(feed, shape, (shape.person, "Form"))
    try:
        for _event, element in ctx:
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError:
        pass
    if feed.failed is not None:
        return XmlRefused(
            f"not valid against {xmlsafe.SCHEMAS[shape.schema]}: {feed.error}", line=feed.failed[1]
        )
    return XmlRefused(text, line=feed.line)


# ------------------------------------------------------------------------------------------------ writing


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Writer:
    def __init__(self, out: IO[bytes], lay: Layout) -> None:
        self.out = out
        self.lay = lay
        self.parts: list[str] = []

    def flush(self) -> None:
        if self.parts:
            self.out.write("".join(self.parts).encode("utf-8"))
            self.parts.clear()

    def element(self, tag: str, value: Any) -> None:
        parts = self.parts
        if isinstance(value, Mapping):
            parts.append(f"<{tag}>\n")
            self.children(tag, value)
            parts.append(f"</{tag}>\n")
        elif value is None:
            return
        else:
            text = str(value) if isinstance(value, int) else _escape(str(value))
            parts.append(f"<{tag}>{text}</{tag}>\n")

    def children(self, tag: str, value: Mapping[str, Any]) -> None:
        for name in self.lay.order.get(tag, ()):
            child = value.get(name)
            if child is None:
                continue
            if isinstance(child, (list, tuple)):
                for item in child:
                    self.element(name, item)
            else:
                self.element(name, child)


def write_dmfa(fileobj: IO[bytes], forms: Iterable[Mapping[str, Any]], *, kind: Kind = "original") -> None:
    """Write a DmfA document of ``forms`` (dicts shaped as the reader yields them: the Form's zones plus
    ``EmployerDeclaration`` (or ``EmployerDeclarationUpdate``) holding the header zones, the natural persons,
    the vehicles …). The natural persons may be any iterable (a generator): they are written as they come,
    so a file of any size is written in bounded memory. Form zones left out get today's defaults."""
    shape = SHAPES[kind]
    lay = layout(shape.schema)
    w = _Writer(fileobj, lay)
    fileobj.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{shape.root}>\n'.encode())
    now = dt.datetime.now(dt.UTC)
    for form in forms:
        w.parts.append("<Form>\n")
        w.element("Identification", form.get("Identification", shape.identification))
        w.element("FormCreationDate", form.get("FormCreationDate", now.date().isoformat()))
        w.element("FormCreationHour", form.get("FormCreationHour", now.strftime("%H:%M:%S.000")))
        w.element("AttestationStatus", form.get("AttestationStatus", shape.attestation_status))
        w.element("TypeForm", form.get("TypeForm", "SU"))
        w.element("Reference", form.get("Reference"))
        declaration = form.get(shape.declaration) or {}
        w.parts.append(f"<{shape.declaration}>\n")
        for name in lay.order[shape.declaration]:
            value = declaration.get(name)
            if value is None:
                continue
            if name == shape.person:
                for person in value:
                    w.element(name, person)
                    if len(w.parts) > 2000:
                        w.flush()
            elif isinstance(value, (list, tuple)):
                for item in value:
                    w.element(name, item)
            else:
                w.element(name, value)
        w.parts.append(f"</{shape.declaration}>\n</Form>\n")
        w.flush()
    fileobj.write(f"</{shape.root}>\n".encode())


def to_xml(forms: Iterable[Mapping[str, Any]], *, kind: Kind = "original") -> bytes:
    """:func:`write_dmfa` into bytes (small documents: the JSON channel, tests)."""
    import io

    buffer = io.BytesIO()
    write_dmfa(buffer, forms, kind=kind)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------- export


def export_dmfa(conn: Connection, *, employer_kbo: str, quarter: int) -> bytes:
    """The latest stored version of the employer's DmfA for ``quarter`` (YYYYQ) as a DmfAOriginal document,
    checked against the XSD before it is returned. LookupError when there is none."""
    from kruispunt.employers.models import declaration_table

    d = dmfa_declaration_table.c
    head = conn.execute(
        select(dmfa_declaration_table, declaration_table.c.body)
        .join(declaration_table, declaration_table.c.id == d.declaration_id)
        .where(d.employer_kbo == employer_kbo, d.quarter == quarter, d.superseded.is_(False))
        .order_by(d.version.desc())
        .limit(1)
    ).first()
    if head is None:
        raise LookupError(f"no DmfA of employer {employer_kbo} for quarter {quarter}")
    body = head.body or {}
    header = dict(body.get("header") or {})
    header["NetOwedAmount"] = int(head.net_owed_cents)
    w = dmfa_worker_record_table.c
    rows = conn.execute(select(w.tree).where(w.dmfa_id == head.id).order_by(w.id)).scalars()

    def persons() -> Iterator[dict[str, Any]]:
        current: dict[str, Any] | None = None
        for tree in rows:
            record = tree["WorkerRecord"]
            if current is not None and current["INSS"] == tree["INSS"]:
                current["WorkerRecord"].append(record)
                continue
            if current is not None:
                yield current
            current = {k: v for k, v in tree.items() if k != "WorkerRecord"}
            current["WorkerRecord"] = [record]
        if current is not None:
            yield current

    declaration: dict[str, Any] = {**header, "NaturalPerson": persons()}
    for name, value in (body.get("rest") or {}).items():
        declaration[name] = value
    import io

    buffer = io.BytesIO()
    write_dmfa(buffer, [{"EmployerDeclaration": declaration}])
    data = buffer.getvalue()
    xmlsafe.parse(data, schema_name="dmfa")
    return data


def write_sample(
    fileobj: IO[bytes],
    *,
    employer: Mapping[str, Any],
    workers: Sequence[str],
    quarter: int,
    category: str | None = None,
    seed: int = 1,
) -> int:
    """Write a plausible DmfAOriginal of one employer (``kbo``, ``rsz``; ``category`` or ``"000"``) with one
    worker record per worker (see :func:`dmfa.synthetic_persons`: contributions as the model computes them,
    a NetOwedAmount that matches), streamed; returns the number of worker records. A file of these is
    accepted when every worker has a Dimona period with that employer covering the quarter (tests, bench)."""
    from kruispunt.employers import dmfa

    persons_category = category or str(employer.get("category") or "000")
    # two passes over a generator (same seed, same persons): the NetOwedAmount comes before the persons
    owed = sum(
        int(c["ContributionAmount"])
        for p in dmfa.synthetic_persons(workers, quarter=quarter, category=persons_category, seed=seed)
        for r in p["WorkerRecord"]
        for c in r.get("WorkerContribution", [])
    )
    persons = dmfa.synthetic_persons(workers, quarter=quarter, category=persons_category, seed=seed)
    declaration = {
        "Quarter": str(quarter),
        "NOSSRegistrationNbr": int(str(employer["rsz"])),
        "Trusteeship": 0,
        "CompanyID": str(employer["kbo"]),
        "NetOwedAmount": owed,
        "NaturalPerson": persons,
    }
    write_dmfa(fileobj, [{"EmployerDeclaration": declaration}])
    return len(workers)
