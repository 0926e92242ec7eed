"""The hub's pipeline: validate → identify the caller → authorise → route → filter → log → answer.

Both channels (REST/JSON and the CBSS SOAP connector) turn their input into one :class:`Consultation`
and their output from one :class:`Outcome`, so every rule is enforced once, the same way, and every
exchange — allowed or refused — is written to the tamper-evident log before the sender gets an answer.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import aiohttp
from sqlalchemy import Engine

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import Settings
from kruispunt.hub import errors
from kruispunt.hub.errors import Reason, Refusal
from kruispunt.hub.forwarding import Forwarder, ProviderAnswer, merge_data
from kruispunt.hub.latency import Latency
from kruispunt.hub.limits import DailyQuota, RateLimiter
from kruispunt.hub.signatures import Signatures, open_signatures
from kruispunt.ids import InvalidIdentifier, is_valid_insz, validate_insz
from kruispunt.network import directory
from kruispunt.network.api import DirectoryExchange, ProofUnavailable
from kruispunt.network.catalogue import Catalogue, MessageType
from kruispunt.network.deliberations import Deliberation, DeliberationIndex, load_deliberations
from kruispunt.network.directory import seed_registry, set_endpoint
from kruispunt.network.registry import Institution, Registry, UnknownInstitution
from kruispunt.network.schemas import ProofRequest, ProofResult

log = logging.getLogger("kruispunt.hub")

Channel = Literal["rest", "soap"]

# deliberation refusal reason codes (from DeliberationIndex.authorise) → hub reasons
_AUTHORISATION_REASONS: dict[str, Reason] = {
    "NO_DELIBERATION": errors.NO_DELIBERATION,
    "LEGAL_CONTEXT_NOT_ALLOWED": errors.LEGAL_CONTEXT_NOT_ALLOWED,
    "DELIBERATION_EXPIRED": errors.DELIBERATION_EXPIRED,
    "DELIBERATION_NOT_YET_VALID": errors.DELIBERATION_NOT_YET_VALID,
}


# directory error codes (network.api) → hub reasons, for the log
_DIRECTORY_REASONS: dict[str, Reason] = {
    "PROOF_MISMATCH": errors.PROOF_MISMATCH,
    "UNKNOWN_INSTITUTION": errors.UNKNOWN_CUSTOMER,
    "INVALID_INSZ": errors.INVALID_SSIN,
    "PROOF_SOURCE_UNAVAILABLE": errors.PROVIDER_UNAVAILABLE,
    "PROOF_SOURCE_ERROR": errors.PROVIDER_BAD_REPLY,
}


@dataclass(frozen=True, slots=True)
class Consultation:
    """A consultation as the pipeline sees it, whatever channel it came in on."""

    channel: Channel
    customer_ticket: str | None = None
    cbe_number: str | None = None
    sector: int | None = None
    institution_type: int | None = None
    user_id: str | None = None
    legal_context: str | None = None
    message_type: str | None = None
    version: str | None = None
    ssin: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """What the hub decided and answered; both channels render it, the log records it."""

    ticket: str
    received: datetime
    replied: datetime | None = None
    status: str | None = None
    refusal: Reason | None = None
    diagnostic: str | None = None
    deliberation: str | None = None
    data: dict[str, Any] | None = None
    filtered: list[str] = field(default_factory=list)
    warnings: list[tuple[Reason, str]] = field(default_factory=list)
    requester: Institution | None = None
    capacity: int | None = None
    destinations: list[str] = field(default_factory=list)
    retry_after: int | None = None
    """Seconds after which a rate-limited or over-quota sender may try again (``Retry-After``)."""

    @property
    def http_status(self) -> int:
        return self.refusal.http_status if self.refusal else 200


@dataclass
class Hub:
    """Everything the pipeline needs; built once per hub process."""

    registry: Registry
    catalogue: Catalogue
    deliberations: DeliberationIndex
    directory_engine: Engine
    audit: AuditWriter
    forwarder: Forwarder
    audit_engine: Engine | None = None
    signatures: Signatures = field(default_factory=lambda: Signatures("off"))
    latency: Latency = field(default_factory=Latency)
    rate: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    quota: DailyQuota = field(default_factory=DailyQuota)
    counters: dict[str, int] = field(default_factory=dict)
    _reader: directory.DirectoryReader | None = field(default=None, repr=False)

    def count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    async def consult(self, consultation: Consultation, *, received: datetime) -> Outcome:
        """Run the whole pipeline; never raises for bad input — a refusal is an :class:`Outcome` too."""
        outcome = Outcome(ticket=str(uuid.uuid4()), received=received)
        try:
            await self._run(consultation, outcome)
        except Refusal as refusal:
            outcome.refusal = refusal.reason
            outcome.diagnostic = refusal.diagnostic
            outcome.status = None
            outcome.data = None
        return await self._log(consultation, outcome)

    async def refuse(
        self,
        consultation: Consultation,
        refusal: Refusal,
        *,
        received: datetime,
        requester: Institution | None = None,
    ) -> Outcome:
        """Log and answer input the channel could not even parse, or an operation refused outside the
        consultation pipeline (a reference-directory operation)."""
        outcome = Outcome(
            ticket=str(uuid.uuid4()),
            received=received,
            refusal=refusal.reason,
            diagnostic=refusal.diagnostic,
            requester=requester,
        )
        return await self._log(consultation, outcome)

    async def record(
        self,
        consultation: Consultation,
        *,
        received: datetime,
        requester: Institution,
        status: str,
        capacity: int | None = None,
        deliberation: str | None = None,
        destinations: tuple[str, ...] = (),
    ) -> Outcome:
        """Log an exchange handled outside the consultation pipeline (a reference-directory operation, a
        warehouse extract)."""
        outcome = Outcome(
            ticket=str(uuid.uuid4()),
            received=received,
            status=status,
            requester=requester,
            capacity=capacity,
            deliberation=deliberation,
            destinations=list(destinations),
        )
        return await self._log(consultation, outcome)

    # -- the pipeline ---------------------------------------------------------------------------------

    async def _run(self, c: Consultation, outcome: Outcome) -> None:
        routed = self._check_and_route(c, outcome, datetime.now(UTC).date(), limit_rate=True)
        if routed is None:
            return
        answers = await self._forward(
            c, routed.requester, routed.message_type, routed.providers, outcome.ticket
        )
        self._conclude(outcome, routed, answers)

    def _message_type(self, c: Consultation) -> MessageType:
        if not c.message_type or not c.version:
            raise Refusal(errors.UNKNOWN_MESSAGE_TYPE, "message type name and version are required")
        message_type = self.catalogue.get(c.message_type, c.version)
        if message_type is None:
            known = self.catalogue.versions(c.message_type)
            hint = f"; known versions: {', '.join(known)}" if known else ""
            raise Refusal(
                errors.UNKNOWN_MESSAGE_TYPE, f"unknown message type {c.message_type!r} v{c.version}{hint}"
            )
        return message_type

    def _person(self, c: Consultation, message_type: MessageType) -> str | None:
        """Validate the INSZ; return its kind (national_register / bis) or None for a search."""
        if c.ssin is None:
            if message_type.person == "required":
                raise Refusal(errors.PERSON_REQUIRED, f"{message_type.name} needs the person's INSZ (ssin)")
            return None
        try:
            return validate_insz(c.ssin).kind
        except InvalidIdentifier as exc:
            raise Refusal(errors.INVALID_SSIN, f"INSZ {c.ssin!r} is not valid: {exc.reason}") from None

    def _identify(self, c: Consultation) -> Institution:
        try:
            return self.registry.identify(
                cbe_number=c.cbe_number, sector=c.sector, institution_type=c.institution_type
            )
        except UnknownInstitution as exc:
            raise Refusal(errors.UNKNOWN_CUSTOMER, exc.reason) from None

    def _authorise(
        self, c: Consultation, requester: Institution, message_type: MessageType, today: date
    ) -> Deliberation:
        decision = self.deliberations.authorise(
            requester=requester,
            message_type=message_type.name,
            version=message_type.version,
            legal_context=c.legal_context or "",
            on=today,
        )
        if decision.deliberation is None:
            reason = _AUTHORISATION_REASONS.get(decision.reason_code or "", errors.NO_DELIBERATION)
            raise Refusal(reason, decision.diagnostic or reason.text)
        return decision.deliberation

    def _integrate_and_route(
        self,
        c: Consultation,
        requester: Institution,
        message_type: MessageType,
        deliberation: Deliberation,
        person_kind: str | None,
        today: date,
        outcome: Outcome,
    ) -> list[Institution]:
        """Check that the caller integrated the person, then keep the providers that know the person."""
        allowed_providers = set(deliberation.providers)
        candidates = [p for p in message_type.providers if p.institution in allowed_providers]
        directory_kbos = [p.institution for p in candidates if p.knows == "directory"]
        managed = {
            inst.sector: inst.kbo
            for p in candidates
            if p.knows == "secondary_network"
            and (inst := self.registry.institution(p.institution)) is not None
        }
        if deliberation.requires_integration and c.ssin is None:
            raise Refusal(errors.PERSON_REQUIRED, f"deliberation {deliberation.id} needs the person's INSZ")
        capacities = deliberation.capacities_for(requester.sector)
        capacity: int | None = None
        knowing: set[str] = set()
        if c.ssin is not None and (deliberation.requires_integration or directory_kbos or managed):
            capacity, knowing = self._directory_lookup(
                insz=c.ssin,
                requester=requester,
                capacities=capacities,
                institutions=directory_kbos,
                on=today,
                managed=managed,
            )
        if deliberation.requires_integration:
            if capacity is None:
                raise Refusal(
                    errors.PERSON_NOT_INTEGRATED,
                    f"{requester.name} has no active directory line for this person with capacity "
                    f"{'/'.join(str(x) for x in capacities) or '-'} (deliberation {deliberation.id})",
                )
            outcome.capacity = capacity
        chosen: list[Institution] = []
        for provider in candidates:
            if provider.knows in ("directory", "secondary_network"):
                keep = provider.institution in knowing
            elif provider.knows == "national_register_numbers":
                keep = person_kind in (None, "national_register")
            elif provider.knows == "any_person":  # it receives whatever person is named
                keep = c.ssin is not None
            else:  # bis_numbers
                keep = person_kind in (None, "bis")
            institution = self.registry.institution(provider.institution)
            if keep and institution is not None:
                chosen.append(institution)
        return chosen

    def _directory_lookup(
        self,
        *,
        insz: str,
        requester: Institution,
        capacities: frozenset[int],
        institutions: list[str],
        on: date,
        managed: dict[int, str],
    ) -> tuple[int | None, set[str]]:
        if self._reader is None:
            self._reader = directory.DirectoryReader(self.directory_engine)
        try:
            return self._reader.lookup(
                insz=insz,
                institution_kbo=requester.kbo,
                capacities=capacities,
                institutions=institutions,
                on=on,
                managed=managed,
            )
        except Exception as exc:  # any driver error: the directory cannot be read now
            log.exception("reference directory unavailable")
            raise Refusal(
                errors.DIRECTORY_UNAVAILABLE, f"reference directory unavailable: {type(exc).__name__}"
            ) from None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _forward(
        self,
        c: Consultation,
        requester: Institution,
        message_type: MessageType,
        providers: list[Institution],
        ticket: str,
    ) -> list[ProviderAnswer]:
        calls = []
        for provider in providers:
            if not provider.endpoint:
                calls.append(_no_endpoint(provider))
                continue
            url = f"{provider.endpoint.rstrip('/')}/consult/{message_type.name}"
            payload = self._envelope(c, requester, message_type, ticket, provider)
            calls.append(self.forwarder.post_json(provider=provider.kbo, url=url, payload=payload))
        return list(await asyncio.gather(*calls))

    # -- proof that an institution knows a person (REGISTER / UNREGISTER) ------------------------------

    async def verify_proof(self, proof: ProofRequest) -> ProofResult:
        """Ask the source that holds the person (bis register for bis numbers, else the National Register)
        whether the proof matches; :class:`ProofUnavailable` when that source cannot answer."""
        try:
            kind = validate_insz(proof.insz).kind
        except InvalidIdentifier as exc:
            return ProofResult(match=False, reason=f"INSZ {proof.insz!r} is not valid: {exc.reason}")
        service_name = "bis_register" if kind == "bis" else "national_register"
        endpoints = [i.endpoint for i in self.registry.institutions_for_service(service_name) if i.endpoint]
        if not endpoints:
            raise ProofUnavailable(f"no {service_name} endpoint is registered")
        url = f"{endpoints[0].rstrip('/')}/persons/verify"
        try:
            status, raw = await self.forwarder.post_raw(url=url, body=proof.model_dump_json().encode())
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise ProofUnavailable(f"{service_name} unreachable: {type(exc).__name__}") from None
        if status == 404:
            return ProofResult(
                match=False, reason=f"the {service_name.replace('_', ' ')} does not know this person"
            )
        if status != 200:
            raise ProofUnavailable(f"{service_name} answered HTTP {status}")
        try:
            return ProofResult.model_validate_json(raw)
        except ValueError:
            raise ProofUnavailable(f"{service_name} sent an invalid proof answer") from None

    async def log_directory_exchange(
        self, exchange: DirectoryExchange, *, channel: Channel = "rest"
    ) -> Outcome:
        """Log a REGISTER / UNREGISTER / LIST of the reference directory like any other exchange."""
        received = datetime.now(UTC)
        requester = self.registry.institution(exchange.institution)
        c = Consultation(
            channel=channel,
            cbe_number=exchange.institution,
            message_type=f"directory_{exchange.action.lower()}",
            version="1",
            ssin=exchange.insz if is_valid_insz(exchange.insz) else None,
        )
        if exchange.error_code is None and requester is not None:
            return await self.record(
                c, received=received, requester=requester, status="OK", capacity=exchange.capacity
            )
        reason = _DIRECTORY_REASONS.get(exchange.error_code or "", errors.DIRECTORY_REFUSED)
        diagnostic = f"{exchange.error_code} (HTTP {exchange.status})"
        return await self.refuse(c, Refusal(reason, diagnostic), received=received, requester=requester)

    # -- the log --------------------------------------------------------------------------------------

    async def _log(self, c: Consultation, outcome: Outcome) -> Outcome:
        """Write the exchange to the log; an allowed answer is only given once it is committed."""
        outcome.replied = datetime.now(UTC)
        requester = outcome.requester
        record = AuditRecord(
            ticket=outcome.ticket,
            customer_ticket=c.customer_ticket,
            time=outcome.received,
            channel=c.channel,
            message_type=c.message_type,
            version=c.version,
            requester=requester.kbo if requester else c.cbe_number,
            requester_sector=requester.sector if requester else c.sector,
            requester_type=requester.institution_type if requester else c.institution_type,
            user=c.user_id,
            destinations=tuple(outcome.destinations),
            person=c.ssin if outcome.refusal is not errors.INVALID_SSIN else None,
            capacity=outcome.capacity,
            deliberation=outcome.deliberation,
            legal_context=c.legal_context,
            outcome=outcome.status or "REFUSED",
            reason_code=outcome.refusal.code if outcome.refusal else None,
        )
        try:
            await self.audit.append(record)
        except Exception:
            log.exception("audit log unavailable")
            if outcome.refusal is None:
                outcome.refusal = errors.LOG_UNAVAILABLE
                outcome.diagnostic = errors.LOG_UNAVAILABLE.text
                outcome.status = None
                outcome.data = None
        self.count(outcome.refusal.name if outcome.refusal else outcome.status or "UNKNOWN")
        return outcome

    # -- steps shared by consult (one message) and consult_many (a batch) ------------------------------

    def _check_and_route(
        self, c: Consultation, outcome: Outcome, today: date, *, limit_rate: bool = False
    ) -> _Routed | None:
        """Steps 1–4 for one consultation: validate, identify the caller (and, for a single message, hold
        it to its rate), authorise (and count it against the deliberation's daily quota), check the
        integration and choose the providers. Raises :class:`Refusal`; None when no provider knows the
        person (the outcome is then ``NO_DATA_FOUND`` and nothing is forwarded)."""
        message_type = self._message_type(c)
        person_kind = self._person(c, message_type)
        problems = self.catalogue.validate_request(message_type, c.body)
        if problems:
            raise Refusal(errors.SCHEMA_VIOLATION, "; ".join(problems[:5]))
        requester = self._identify(c)
        outcome.requester = requester
        if limit_rate and (wait := self.rate.take(requester.kbo)) is not None:
            outcome.retry_after = max(1, math.ceil(wait))
            raise Refusal(
                errors.RATE_LIMITED, f"{requester.kbo} may send {self.rate.rate:g} messages per second"
            )
        deliberation = self._authorise(c, requester, message_type, today)
        outcome.deliberation = deliberation.id
        if deliberation.max_per_day is not None:
            over = self.quota.take(requester.kbo, deliberation.id, deliberation.max_per_day)
            if over is not None:
                outcome.retry_after = over
                raise Refusal(
                    errors.QUOTA_EXCEEDED,
                    f"deliberation {deliberation.id} allows {deliberation.max_per_day} messages a day per "
                    "institution; try again tomorrow (UTC)",
                )
        providers = self._integrate_and_route(
            c, requester, message_type, deliberation, person_kind, today, outcome
        )
        outcome.destinations = [p.kbo for p in providers]
        if not providers:
            outcome.status = "NO_DATA_FOUND"
            return None
        return _Routed(requester, message_type, deliberation, providers)

    def _conclude(self, outcome: Outcome, routed: _Routed, answers: list[ProviderAnswer]) -> None:
        """Steps 5–6 once the providers answered (in the order of ``routed.providers``): all failed →
        :class:`Refusal` with the first failure; some failed → warnings; merge, then filter to the
        deliberation's fields."""
        failures = [a for a in answers if a.failure is not None]
        answered = [a for a in answers if a.failure is None]
        if not answered:
            first = failures[0]
            assert first.failure is not None
            raise Refusal(first.failure, first.diagnostic)
        for failed in failures:
            assert failed.failure is not None
            outcome.warnings.append((failed.failure, failed.diagnostic or failed.failure.text))
        data = merge_data(answered)
        if data is None:
            outcome.status = "NO_DATA_FOUND"
            return
        allowed = routed.deliberation.fields.get(routed.message_type.name, ())
        outcome.data, outcome.filtered = self.catalogue.filter_reply(data, allowed)
        outcome.status = "DATA_FOUND"

    @staticmethod
    def _envelope(
        c: Consultation, requester: Institution, message_type: MessageType, ticket: str, provider: Institution
    ) -> dict[str, Any]:
        """The hub → source envelope (``ConsultRequest``) of one consultation for one provider."""
        return {
            "ticket": ticket,
            "message_type": message_type.name,
            "version": message_type.version,
            "person": c.ssin,
            "request": c.body,
            "requester": {
                "institution": requester.kbo,
                "sector": requester.sector,
                "institution_type": requester.institution_type,
            },
            "provider": provider.kbo,
        }

    # -- many consultations at once (batches, asynchronous messages) -----------------------------------

    async def consult_many(
        self,
        consultations: Sequence[Consultation],
        *,
        received: datetime,
        tickets: Sequence[str] | None = None,
    ) -> list[Outcome]:
        """:meth:`consult` for many consultations at once, with ONE call per provider.

        Every consultation goes through the same steps as :meth:`consult` (:meth:`_check_and_route`,
        :meth:`_conclude`, :meth:`_log`: same checks, same routing, same filtering, one log entry each);
        only forwarding differs: the envelopes routed to one provider for one message type go in one
        ``POST {endpoint}/consult-batch/{message_type}`` (``{"items": [...]}``), with per-envelope
        ``POST /consult/{message_type}`` calls when the source has no bulk route (404/405). ``tickets``
        (one per consultation) lets the caller hand out the tickets beforehand (asynchronous messages).
        Outcomes come back in the order of ``consultations``; bad input is a refused outcome, never an
        exception.
        """
        if tickets is not None and len(tickets) != len(consultations):
            raise ValueError("one ticket per consultation")
        outcomes = [
            Outcome(ticket=tickets[k] if tickets is not None else str(uuid.uuid4()), received=received)
            for k in range(len(consultations))
        ]
        today = datetime.now(UTC).date()
        routed: dict[int, _Routed] = {}
        answers: dict[int, dict[str, ProviderAnswer]] = {}
        # (provider, message type) → the provider, the message type, the lines and their envelopes
        groups: dict[tuple[str, str], tuple[Institution, str, list[int], list[dict[str, Any]]]] = {}
        for k, (c, outcome) in enumerate(zip(consultations, outcomes, strict=True)):
            try:
                chosen = self._check_and_route(c, outcome, today)
            except Refusal as refusal:
                _refuse_outcome(outcome, refusal)
                continue
            if chosen is None:
                continue
            routed[k] = chosen
            answers[k] = {}
            for provider in chosen.providers:
                if not provider.endpoint:
                    answers[k][provider.kbo] = await _no_endpoint(provider)
                    continue
                group = groups.setdefault(
                    (provider.kbo, chosen.message_type.name), (provider, chosen.message_type.name, [], [])
                )
                group[2].append(k)
                group[3].append(
                    self._envelope(c, chosen.requester, chosen.message_type, outcome.ticket, provider)
                )
        replies = await asyncio.gather(
            *(
                self.forwarder.post_many(
                    provider=provider.kbo,
                    endpoint=provider.endpoint or "",
                    message_type=name,
                    payloads=payloads,
                )
                for provider, name, _, payloads in groups.values()
            )
        )
        for (provider, _, lines, _), got in zip(groups.values(), replies, strict=True):
            for k, answer in zip(lines, got, strict=True):
                answers[k][provider.kbo] = answer
        for k, chosen in routed.items():
            try:
                self._conclude(outcomes[k], chosen, [answers[k][p.kbo] for p in chosen.providers])
            except Refusal as refusal:
                _refuse_outcome(outcomes[k], refusal)
        return list(
            await asyncio.gather(*(self._log(c, o) for c, o in zip(consultations, outcomes, strict=True)))
        )


@dataclass(frozen=True, slots=True)
class _Routed:
    """What steps 1–4 decided for a consultation that goes to at least one provider."""

    requester: Institution
    message_type: MessageType
    deliberation: Deliberation
    providers: list[Institution]


def _refuse_outcome(outcome: Outcome, refusal: Refusal) -> None:
    outcome.refusal = refusal.reason
    outcome.diagnostic = refusal.diagnostic
    outcome.status = None
    outcome.data = None


async def _no_endpoint(provider: Institution) -> ProviderAnswer:
    return ProviderAnswer(
        provider.kbo,
        failure=errors.PROVIDER_UNAVAILABLE,
        diagnostic=f"no endpoint registered for {provider.name}",
    )


def prepare_hub(settings: Settings) -> None:
    """Migrate the hub's databases, seed the registry and record the sources' endpoints.

    Done once before the hub's worker processes start (they then open the databases as they are), so
    that several workers never race on migrations or seeding.
    """
    hub_url = component_url(settings.db_url, settings.data_dir, "hub")
    upgrade(hub_url, "hub")
    upgrade(component_url(settings.db_url, settings.data_dir, "audit"), "audit")
    upgrade(component_url(settings.db_url, settings.data_dir, "mailbox"), "mailbox")
    engine = make_engine(hub_url)
    try:
        with engine.begin() as conn:
            seed_registry(conn, Registry.load_default())
            registry = Registry.from_db(conn)
            for service_name, url in settings.endpoints.items():
                for institution in registry.institutions_for_service(service_name):
                    set_endpoint(conn, institution.kbo, url)
    finally:
        engine.dispose()


@asynccontextmanager
async def running_hub(settings: Settings) -> AsyncIterator[Hub]:
    """Open the hub's databases, load and check registry, catalogue and deliberations, start the audit
    writer (on this worker's chain) and the HTTP client; close them all on exit.

    A deliberation file that references an unknown sector, message type or capacity stops the start-up
    here with a message naming the file.
    """
    if not settings.hub_prepared:
        prepare_hub(settings)
    directory_engine = make_engine(component_url(settings.db_url, settings.data_dir, "hub"))
    audit_engine = make_engine(component_url(settings.db_url, settings.data_dir, "audit"))
    with directory_engine.connect() as conn:
        registry = Registry.from_db(conn)
    catalogue = Catalogue.load_default()
    deliberations = load_deliberations(settings.deliberations_dir, registry=registry, catalogue=catalogue)
    writer = AuditWriter(
        audit_engine,
        chain=settings.audit_chain,
        flush_ms=settings.audit_flush_ms,
        batch_max=settings.audit_batch_max,
    )
    writer.start()
    forwarder = Forwarder(
        timeout_s=settings.provider_timeout_s, bulk_timeout_s=settings.batch_provider_timeout_s
    )
    await forwarder.start()
    hub = Hub(
        registry=registry,
        catalogue=catalogue,
        deliberations=deliberations,
        directory_engine=directory_engine,
        audit=writer,
        forwarder=forwarder,
        audit_engine=audit_engine,
        signatures=open_signatures(settings),
        rate=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
    )
    forwarder.sign = hub.signatures.forwarding_signer()
    try:
        yield hub
    finally:
        hub.close()
        await forwarder.close()
        writer.close()
        directory_engine.dispose()
        audit_engine.dispose()
