"""Who holds which portal role outside the enterprises' own access management.

Why a file: the network's operators and the warehouse's reviewers are appointed by the KSZ itself, not by
an enterprise, and in development ``kruispunt up`` appoints them among the identity provider's people.
The file (``<data>/portal/roles.yaml``) is read once at start; a person is named by INSZ, the subject the
identity provider gives. The legal representatives of enterprises are listed here too, as the enterprise
register (KBO) would publish them: they are where the access management of an enterprise starts.

    operators: [INSZ, …]
    reviewers: [INSZ, …]
    legal_representatives: {KBO: [INSZ, …]}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from fastapi import Request
from starlette.responses import Response

from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.portal.sessions import Session
from kruispunt.portal.web import error_page, require_level, translate_of

log = logging.getLogger("kruispunt.portal.roles")

ROLES_FILE = "roles.yaml"


class RolesError(ValueError):
    """The roles file is not a mapping of valid INSZ and KBO numbers."""


@dataclass(frozen=True)
class PortalRoles:
    operators: frozenset[str] = frozenset()
    reviewers: frozenset[str] = frozenset()
    legal_representatives: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def represents(self, insz: str) -> list[str]:
        """The enterprises (KBO) ``insz`` is a legal representative of, sorted."""
        return sorted(kbo for kbo, people in self.legal_representatives.items() if insz in people)


def _insz_list(values: object, what: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise RolesError(f"{what}: a list of INSZ is expected")
    try:
        return frozenset(validate_insz(str(v)).number for v in values)
    except InvalidIdentifier as exc:
        raise RolesError(f"{what}: {exc}") from exc


def parse_roles(text: str) -> PortalRoles:
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise RolesError("roles: a mapping is expected")
    reps = doc.get("legal_representatives") or {}
    if not isinstance(reps, dict):
        raise RolesError("legal_representatives: a mapping KBO → list of INSZ is expected")
    legal: dict[str, frozenset[str]] = {}
    for kbo, people in reps.items():
        try:
            number = validate_enterprise_number(str(kbo))
        except InvalidIdentifier as exc:
            raise RolesError(f"legal_representatives: {exc}") from exc
        legal[number] = _insz_list(people, f"legal_representatives of {number}")
    return PortalRoles(
        operators=_insz_list(doc.get("operators"), "operators"),
        reviewers=_insz_list(doc.get("reviewers"), "reviewers"),
        legal_representatives=legal,
    )


def read_roles(folder: Path) -> PortalRoles:
    """The roles in ``folder/roles.yaml``; nobody holds a role when the file is missing."""
    path = folder / ROLES_FILE
    return parse_roles(path.read_text(encoding="utf-8")) if path.is_file() else PortalRoles()


def write_roles(
    folder: Path,
    *,
    operators: Sequence[str] = (),
    reviewers: Sequence[str] = (),
    legal_representatives: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "operators": list(operators),
        "reviewers": list(reviewers),
        "legal_representatives": {k: list(v) for k, v in (legal_representatives or {}).items()},
    }
    path = folder / ROLES_FILE
    path.write_text(
        "# portal roles appointed by the KSZ (development: by kruispunt up)\n"
        + yaml.safe_dump(doc, sort_keys=False),
        encoding="utf-8",
    )
    return path


def require_role(request: Request, level: int, allowed: frozenset[str], role_key: str) -> Session | Response:
    """The session if it has ``level`` and its subject is in ``allowed``; else the upgrade step or a 403.

    ``role_key`` names the role in the messages (``role_operator``, …) for the refusal page.
    """
    found = require_level(request, level)
    if isinstance(found, Response):
        return found
    if found.subject not in allowed:
        log.warning("portal: %s refused to a session without the role %s", request.url.path, role_key)
        t = translate_of(request)
        return error_page(request, 403, "forbidden_title", t("role_required", role=t(role_key)))
    return found
