"""Reference documentation of the message catalogue, generated as Markdown (``kruispunt network docs``).

Per message type: what it is, whether the person's INSZ is required, its SOAP binding, where the hub serves
its JSON Schemas and XSD, its providers (and how each knows the person), its request fields and reply fields
as compact tables (the reply table shows which deliberation may see which field), the legal contexts under
which it may be asked, and every deliberation that opens it (requesters, legal contexts, capacities, the
fields it may see, validity). The output is deterministic — no timestamps, no "expired" computed against
today — so the committed file can be checked for being up to date.
"""

from __future__ import annotations

from collections.abc import Iterable

from kruispunt.network.catalogue import Catalogue, MessageType, Provider, path_tokens
from kruispunt.network.deliberations import Deliberation, DeliberationIndex, RequesterRule
from kruispunt.network.registry import Registry
from kruispunt.network.xsd import (
    combination_notes,
    constraints,
    field_rows,
    find_field,
    message_shape,
    root_name,
    target_namespace,
    type_label,
    xsd_file_name,
)

COMMAND = "kruispunt network docs"
CATALOGUE_ROUTE = "/hub/catalogue"

XML_CONVENTION = (
    "Each message type's XSD is generated from its JSON Schemas: target namespace "
    "`urn:kruispunt:messages:<name>:v<version>`, global elements `<Name>Request` (the request body) and "
    "`<Name>Reply` (the reply data).",
    "",
    "- an object is a sequence of one element per property, in the schema's order; members the schema does "
    "not declare are not represented;",
    "- a list is its element repeated, without a wrapper (`<members>…</members><members>…</members>`); an "
    "empty list is no element; a list inside a list repeats `item`;",
    '- `required` gives `minOccurs="1"` in requests; in replies every element is optional, since the hub '
    "removes what the requester's deliberation does not allow;",
    "- `pattern`, `enum`, `minLength`/`maxLength` and `minimum`/`maximum` become facets; `format: date` is "
    "`xs:date`, `integer` `xs:integer`, `number` `xs:decimal`, `boolean` `xs:boolean`;",
    '- a value that may be null is `nillable`, and JSON `null` is written `xsi:nil="true"`;',
    "- `oneOf`/`anyOf`/`not` become the union of the properties, all optional, with an annotation saying "
    "which combinations the JSON Schema enforces (the XSD alone does not).",
)

_KNOWS = {
    "directory": "an active line in the reference directory (persons it integrated)",
    "national_register_numbers": "every national-register number",
    "bis_numbers": "every BIS number",
    "any_person": "whatever person the request names (the competent institution receives a declaration)",
}


def anchor(mt: MessageType) -> str:
    """The HTML anchor of a message type's section."""
    return f"{mt.name}-v{mt.version}".replace(".", "-")


def route(mt: MessageType, file: str | None = None) -> str:
    """The hub route of a message type (``/hub/catalogue/<name>/<version>``) or of one of its files."""
    base = f"{CATALOGUE_ROUTE}/{mt.name}/{mt.version}"
    return f"{base}/{file}" if file else base


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell (one line, pipes escaped)."""
    return _one_line(text).replace("|", "\\|")


def _institution(registry: Registry, kbo: str) -> str:
    inst = registry.institution(kbo)
    return f"{inst.name} (KBO `{kbo}`)" if inst is not None else f"KBO `{kbo}` (not in the registry)"


def _short_institution(registry: Registry, kbo: str) -> str:
    inst = registry.institution(kbo)
    return inst.name if inst is not None else f"KBO {kbo}"


def _knows(registry: Registry, provider: Provider) -> str:
    if provider.knows == "secondary_network":
        inst = registry.institution(provider.institution)
        sector = registry.sector(inst.sector, 0) if inst is not None else None
        members = f"sector {inst.sector}" if inst is not None else "its sector"
        if sector is not None:
            members += f", {sector.name_nl}"
        how = (
            f"an active directory line of any member of the secondary network it manages ({members}); "
            "the hub routes to it and it routes to the member"
        )
    else:
        how = _KNOWS.get(provider.knows, provider.knows)
    return f"{how} (`{provider.knows}`)"


def _requester(registry: Registry, rule: RequesterRule) -> str:
    if rule.institution is not None:
        return f"institution {_institution(registry, rule.institution)}"
    if rule.institution_type is not None:
        sector = registry.sector(rule.sector, rule.institution_type)
        name = f" — {sector.short_name}: {sector.name_nl}" if sector is not None else ""
        return f"sector {rule.sector}, institution type {rule.institution_type}{name}"
    managing = registry.sector(rule.sector, 0)
    name = f" — {managing.name_nl}" if managing is not None else ""
    return f"every institution of sector {rule.sector}{name}"


def _capacity(registry: Registry, sector: int, code: int) -> str:
    cap = registry.capacity(sector, code)
    label = f" — {cap.label_nl} / {cap.label_fr}" if cap is not None else ""
    return f"`{sector}/{code}`{label}"


def _codes(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _sees(fields: tuple[str, ...], path: str) -> str:
    """Whether a deliberation's allowed paths show a reply field: ``✓``, ``part`` (only below it) or ``—``."""
    if "*" in fields:
        return "✓"
    tokens = path_tokens(path)
    allowed = [path_tokens(f) for f in fields]
    if any(tokens[: len(a)] == a for a in allowed):
        return "✓"
    if any(a[: len(tokens)] == tokens for a in allowed):
        return "part"
    return "—"


# ------------------------------------------------------------------------------------------------------------
# sections


def _schemas(mt: MessageType) -> list[str]:
    return [
        "- **Served by the hub:**",
        f"  - `GET {route(mt)}` — this message type as JSON (schemas, reply fields, deliberations)",
        f"  - `GET {route(mt, 'request.schema.json')}` — request JSON Schema",
        f"  - `GET {route(mt, 'reply.schema.json')}` — reply JSON Schema",
        f"  - `GET {route(mt, xsd_file_name(mt))}` — XSD: namespace `{target_namespace(mt)}`, elements "
        f"`{root_name(mt, 'request')}` and `{root_name(mt, 'reply')}`",
    ]


def _providers(mt: MessageType, registry: Registry) -> list[str]:
    lines = ["| Institution | KBO | Knows the person by |", "|---|---|---|"]
    for p in mt.providers:
        lines.append(
            f"| {_cell(_short_institution(registry, p.institution))} | `{p.institution}` "
            f"| {_cell(_knows(registry, p))} |"
        )
    return lines


def _request(mt: MessageType) -> list[str]:
    shape = message_shape(mt, "request")
    rows = field_rows(shape)
    lines: list[str] = []
    if not rows:
        lines += ["No fields: the request body is an empty object `{}`.", ""]
    else:
        lines += ["| Field | Type | Required | Constraints | Description |", "|---|---|---|---|---|"]
        for row in rows:
            description = row.shape.description or row.shape.title or ""
            lines.append(
                f"| `{row.path}` | {_cell(type_label(row.shape))} | {'yes' if row.required else 'no'} "
                f"| {_cell('; '.join(constraints(row.shape)))} | {_cell(description)} |"
            )
        lines.append("")
    combinations = combination_notes(mt.request_schema)
    if combinations:
        lines += [f"> {_one_line(note)}" for note in combinations]
        lines.append("")
    return lines


def _reply(mt: MessageType, deliberations: list[Deliberation]) -> list[str]:
    shape = message_shape(mt, "reply")
    ids = [d.id for d in deliberations]
    lines = []
    if mt.reply_schema is None:
        lines += ["The reply is described by its field paths only (no reply JSON Schema yet).", ""]
    lines += [
        "| Field | Type | Constraints / description |" + "".join(f" {i} |" for i in ids),
        "|---|---|---|" + "---|" * len(ids),
    ]
    for path in mt.reply_fields:
        field = find_field(shape, path)
        if field is None:
            kind, notes = "", ""
        else:
            kind = type_label(field)
            notes = "; ".join([*constraints(field), *([field.description] if field.description else [])])
        seen = "".join(f" {_sees(d.fields.get(mt.name, ()), path)} |" for d in deliberations)
        lines.append(f"| `{path}` | {_cell(kind)} | {_cell(notes)} |{seen}")
    lines.append("")
    if ids:
        lines += ["✓: the deliberation may see the field; part: only some fields below it; —: removed.", ""]
    return lines


def _legal_contexts(deliberations: list[Deliberation]) -> list[str]:
    by_context: dict[str, list[str]] = {}
    for d in deliberations:
        for context in d.legal_contexts:
            by_context.setdefault(context, []).append(d.id)
    if not by_context:
        return ["None: no deliberation opens this message type.", ""]
    lines = ["| Legal context | Deliberations |", "|---|---|"]
    for context in sorted(by_context):
        lines.append(f"| `{context}` | {', '.join(by_context[context])} |")
    return [*lines, ""]


def _deliberation(d: Deliberation, mt: MessageType, registry: Registry) -> list[str]:
    fields = d.fields.get(mt.name, ())
    lines = [
        f"#### Deliberation {d.id}",
        "",
        f"{_one_line(d.title)}",
        "",
        f"- **Date:** {d.date.isoformat()}",
        f"- **Legal basis:** {_one_line(d.legal_basis)}",
        "- **Requesters:**",
        *(f"  - {_requester(registry, r)}" for r in d.requesters),
        f"- **Providers:** {'; '.join(_institution(registry, kbo) for kbo in d.providers)}",
        f"- **Legal contexts:** {_codes(d.legal_contexts)}",
    ]
    if d.capacities:
        lines.append("- **Required capacities** (the person must be integrated with one of these):")
        lines.extend(f"  - {_capacity(registry, s, c)}" for s, c in d.capacities)
    else:
        lines.append("- **Required capacities:** none")
    if fields == ("*",):
        lines.append("- **Fields it may see:** all reply fields (`*`)")
    elif fields:
        lines.append(f"- **Fields it may see:** {_codes(fields)}")
    else:
        lines.append("- **Fields it may see:** none")
    until = d.valid_to.isoformat() if d.valid_to is not None else "open-ended"
    lines += [
        f"- **Valid:** from {d.valid_from.isoformat()} to {until}",
        f"- **Retention:** {d.retention_years} years",
        f"- **Integration required:** {'yes' if d.requires_integration else 'no'}",
        f"- **Source:** `deliberations/{d.source}`" if d.source else "- **Source:** (unknown)",
        "",
    ]
    return lines


def _message_type(mt: MessageType, deliberations: list[Deliberation], registry: Registry) -> list[str]:
    soap = f"`{mt.soap.service_id}` version `{mt.soap.version}`" if mt.soap is not None else "none"
    person = (
        "required — every request names the person"
        if mt.person_required
        else "optional — a request may name no person"
    )
    lines = [
        f'<a id="{anchor(mt)}"></a>',
        "",
        f"## `{mt.name}` v{mt.version} — {_one_line(mt.title)}",
        "",
        _one_line(mt.description),
        "",
        f"- **Person's INSZ:** {person}",
        f"- **SOAP binding:** {soap}",
        *_schemas(mt),
        "",
        "### Providers",
        "",
        *_providers(mt, registry),
        "",
        "### Request",
        "",
        *_request(mt),
        "### Reply fields",
        "",
        *_reply(mt, deliberations),
        "### Legal contexts",
        "",
        *_legal_contexts(deliberations),
        "### Deliberations",
        "",
    ]
    if not deliberations:
        lines += ["No deliberation opens this message type: nobody may ask it.", ""]
    for d in deliberations:
        lines += _deliberation(d, mt, registry)
    return lines


def render_markdown(catalogue: Catalogue, deliberations: DeliberationIndex, registry: Registry) -> str:
    """The whole reference page; the same inputs always give the same text."""
    types = catalogue.all()
    opening: dict[tuple[str, str], list[Deliberation]] = {mt.key: [] for mt in types}
    for d in deliberations.all():
        for key in d.message_types:
            opening.setdefault(key, []).append(d)
    lines = [
        "# Message types",
        "",
        "<!-- Generated from the message catalogue (src/kruispunt/network/data/messages.yaml), the",
        f"     registry and the deliberations/ folder by `{COMMAND}`. Do not edit by hand:",
        f"     change the sources and run `{COMMAND}` again. -->",
        "",
        f"_This file is generated by `{COMMAND}`; do not edit it by hand._",
        "",
        f"{len(types)} message type(s), {len(deliberations)} deliberation(s).",
        "",
        f"The hub serves the same catalogue as JSON: `GET {CATALOGUE_ROUTE}` lists the message types, "
        f"`GET {CATALOGUE_ROUTE}/<name>/<version>` gives one with its schemas and the deliberations that "
        "open it, and each message type's request and reply JSON Schemas and XSD have their own route "
        "(below). "
        "The network's signing keys, to verify attestations offline, are at `GET /hub/keys`.",
        "",
        "## XML convention",
        "",
        *XML_CONVENTION,
        "",
        "## Contents",
        "",
        "| Message type | Title | Person | Providers | Deliberations |",
        "|---|---|---|---|---|",
    ]
    for mt in types:
        ids = ", ".join(d.id for d in opening[mt.key]) or "none"
        providers = ", ".join(_short_institution(registry, p.institution) for p in mt.providers)
        lines.append(
            f"| [`{mt.name}` v{mt.version}](#{anchor(mt)}) | {_cell(mt.title)} | {mt.person} "
            f"| {_cell(providers)} | {ids} |"
        )
    lines.append("")
    for mt in types:
        lines += _message_type(mt, opening[mt.key], registry)
    return "\n".join(lines).rstrip("\n") + "\n"
