"""Hardened XML parsing and the official schemas.

Every XML document an employer sends is parsed with entity resolution, DTD loading and network access off,
and a DOCTYPE is refused outright (no entity expansion, no external entity can be smuggled in). Large files
are read incrementally (:func:`iter_elements`): lxml validates against the XSD *while* parsing, so memory
stays bounded however many worker records the file has.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import IO, Any, cast

from lxml import etree

SCHEMAS = {
    "dimona": "Dimona_20231.xsd",
    "dmfa": "DmfAOriginal_20223.xsd",
    "dmfa_update": "DmfAUpdate_20223.xsd",
    "notification": "NOTIFICATION_20223.xsd",
    "acrf": "ACRF_20231.xsd",
    "zima001": "ZIMA001_20231.xsd",
}


class XmlRefused(ValueError):
    """The document cannot be read: not well-formed, a DOCTYPE, or invalid against the schema."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "column": self.column}


@cache
def schema(name: str) -> etree.XMLSchema:
    """The compiled official XSD (``dimona``, ``dmfa``, ``dmfa_update``, ``notification``, ``acrf``,
    ``zima001``)."""
    path = resources.files("kruispunt.employers") / "data" / "xsd" / SCHEMAS[name]
    with resources.as_file(path) as file:
        return etree.XMLSchema(etree.parse(str(file), parser=_parser()))


def _parser(**kwargs: Any) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        **kwargs,
    )


def _refuse_doctype(head: bytes) -> None:
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise XmlRefused("a DOCTYPE or entity declaration is not accepted in a declaration")


def parse(data: bytes, *, schema_name: str | None = None) -> etree._Element:
    """Parse a whole (small) document, refuse DOCTYPEs, validate against ``schema_name`` when given."""
    _refuse_doctype(data[:4096])
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"not well-formed XML: {exc.msg}", line=exc.lineno, column=exc.offset) from exc
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise XmlRefused("a DOCTYPE is not accepted in a declaration")
    if schema_name is not None:
        validate(root, schema_name)
    return root


def validate(root: etree._Element, schema_name: str) -> None:
    """Raise :class:`XmlRefused` naming the first schema error (line and message)."""
    xsd = schema(schema_name)
    if not xsd.validate(root):
        error: Any = cast(Any, xsd.error_log).last_error  # the stubs do not describe _ErrorLog
        raise XmlRefused(
            f"not valid against {SCHEMAS[schema_name]}: {error.message}", line=error.line, column=error.column
        )


def iter_elements(source: IO[bytes], tag: str, *, schema_name: str | None) -> Iterator[etree._Element]:
    """Yield every ``tag`` element of a large document as soon as it is complete, validating the whole
    document against ``schema_name`` while reading; each element is freed after the caller is done with it.

    A schema or syntax error raises :class:`XmlRefused` at the point where it is met: the caller must not
    have made anything it yielded before permanent (see ``employers.dmfa``: one transaction per file).
    """
    head = source.read(4096)
    _refuse_doctype(head)
    root_tag = _root_tag(head)
    stream = _Prefixed(head, source)
    kwargs: dict[str, Any] = {"schema": schema(schema_name)} if schema_name else {}
    wanted = (tag, root_tag) if root_tag and root_tag != tag else tag
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=wanted,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        **kwargs,
    )
    ended = False
    checked_doctype = False
    try:
        for _event, element in context:
            if not checked_doctype:
                checked_doctype = True
                if element.getroottree().docinfo.doctype:
                    raise XmlRefused("a DOCTYPE is not accepted in a declaration")
            if element.tag == root_tag and element.getparent() is None:
                ended = True
                if root_tag != tag:
                    continue
            yield element
            element.clear(keep_tail=False)
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        what = (
            "not valid against the schema"
            if schema_name and "Schemas validity" in str(exc)
            else "not well-formed"
        )
        raise XmlRefused(f"{what}{where}: {exc.msg}", line=exc.lineno, column=exc.offset) from exc
    if not ended:
        # with a schema, lxml stops quietly at a truncated document: the root's end tag is the proof
        raise XmlRefused("not well-formed: the document ends before its root element is closed")


_ROOT = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.-]*)")


def _root_tag(head: bytes) -> str | None:
    """The name of the first element of a document (after the prolog and any comments)."""
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", head, flags=re.DOTALL)
    found = _ROOT.search(text)
    return found.group(1).decode("ascii") if found else None


class _Prefixed:
    """A file-like object that first returns ``head`` (already read to look for a DOCTYPE), then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                out, self._head = self._head, b""
                if size < 0:
                    return out + self._rest.read()
                return out + self._rest.read(size - len(out))
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)


def text(element: etree._Element | None, child: str) -> str | None:
    """The stripped text of the first ``child`` of ``element`` (None when absent or empty)."""
    if element is None:
        return None
    found = element.find(child)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None
