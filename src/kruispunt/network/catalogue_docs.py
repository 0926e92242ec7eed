"""Reference documentation of the message catalogue, generated as Markdown (``kruispunt network docs``).

Per message type: what it is, whether the person's INSZ is required, its SOAP binding, its providers, its
request JSON Schema, its reply fields and every deliberation that opens it (requesters, legal contexts,
capacities, the fields that deliberation may see, validity). The output is deterministic — no timestamps, no
"expired" computed against today — so the committed file can be checked for being up to date.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from kruispunt.network.catalogue import Catalogue, MessageType, Provider
from kruispunt.network.deliberations import Deliberation, DeliberationIndex, RequesterRule
from kruispunt.network.registry import Registry

COMMAND = "kruispunt network docs"

_KNOWS = {
    "directory": "the reference directory (persons integrated for this provider)",
    "national_register_numbers": "every national-register number",
    "bis_numbers": "every BIS number",
}


def anchor(mt: MessageType) -> str:
    """The HTML anchor of a message type's section."""
    return f"{mt.name}-v{mt.version}".replace(".", "-")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _institution(registry: Registry, kbo: str) -> str:
    inst = registry.institution(kbo)
    return f"{inst.name} (KBO `{kbo}`)" if inst is not None else f"KBO `{kbo}` (not in the registry)"


def _provider(registry: Registry, provider: Provider) -> str:
    how = _KNOWS.get(provider.knows, provider.knows)
    return f"{_institution(registry, provider.institution)} — knows a person by {how} (`{provider.knows}`)"


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


def _code_list(items: Iterable[str]) -> list[str]:
    return [f"  - `{item}`" for item in items]


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
        "- **Providers:**",
        *(f"  - {_institution(registry, kbo)}" for kbo in d.providers),
        "- **Legal contexts:**",
        *_code_list(d.legal_contexts),
    ]
    if d.capacities:
        lines.append("- **Required capacities** (the person must be integrated with one of these):")
        lines.extend(f"  - {_capacity(registry, s, c)}" for s, c in d.capacities)
    else:
        lines.append("- **Required capacities:** none")
    if fields == ("*",):
        lines.append("- **Fields it may see:** all reply fields (`*`)")
    else:
        lines.append("- **Fields it may see:**")
        lines.extend(_code_list(fields))
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
    schema = json.dumps(mt.request_schema, indent=2, sort_keys=True, ensure_ascii=False)
    lines = [
        f'<a id="{anchor(mt)}"></a>',
        "",
        f"## `{mt.name}` v{mt.version} — {_one_line(mt.title)}",
        "",
        _one_line(mt.description),
        "",
        f"- **Person's INSZ:** {'required' if mt.person_required else 'optional'}",
        f"- **SOAP binding:** {soap}",
        "",
        "### Providers",
        "",
        *(f"- {_provider(registry, p)}" for p in mt.providers),
        "",
        "### Request schema",
        "",
        "```json",
        schema,
        "```",
        "",
        "### Reply fields",
        "",
        *(f"- `{path}`" for path in mt.reply_fields),
        "",
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
        "## Contents",
        "",
    ]
    for mt in types:
        ids = ", ".join(d.id for d in opening[mt.key]) or "none"
        lines.append(
            f"- [`{mt.name}` v{mt.version}](#{anchor(mt)}) — {_one_line(mt.title)} (deliberations: {ids})"
        )
    lines.append("")
    for mt in types:
        lines += _message_type(mt, opening[mt.key], registry)
    return "\n".join(lines).rstrip("\n") + "\n"
