"""``kruispunt up`` and ``kruispunt serve``: seed the network, run each service as its own process.

Why separate processes: the hub keeps no substantive personal data and each authentic source has its
own database; running them as separate HTTP services on localhost is the same shape as a deployment,
just smaller. The services: the hub, the two registers, and the social-security sources of
``kruispunt.sources.social`` (RSZ, RVA, NIC and the mutualities, POD MI and the OCMWs, DG HAN, FPD, the
child-benefit funds, FEDRIS), and the employers service (Dimona, DmfA, DRS). Every child gets
``KRUISPUNT_ENDPOINTS`` (service → URL, every source) and
``KRUISPUNT_HUB_URL``; they are all started at once and then waited for together.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import httpx
import uvicorn

from kruispunt.core.settings import Settings, get_settings
from kruispunt.sources.social import SERVICES as SOCIAL_SERVICES

SOURCE_SERVICES = ("national_register", "bis_register", *SOCIAL_SERVICES)
OTHER_SERVICES = ("employers", "mutations", "rights", "coding", "warehouse", "idp", "portal")
"""Services that are not authentic sources: the employers' declarations (Dimona, DmfA, DRS), the change
notifications, the derived-rights engine, the trusted third party that codes the warehouse's extracts and
the data warehouse (its statistics applications and PxWeb API), the development OpenID Connect provider and
the portal."""


def create_service_app(service: str) -> object:
    """The ASGI app of one service, configured from the environment."""
    settings = get_settings()
    if service == "hub":
        from kruispunt.hub.api import create_asgi_app

        return create_asgi_app(settings)
    from kruispunt.core.db import component_url

    url = component_url(settings.db_url, settings.data_dir, service)
    if service == "national_register":
        from kruispunt.sources.national_register.api import create_app as create_nr

        return create_nr(url, mutations_url=settings.mutations_url)
    if service == "bis_register":
        from kruispunt.sources.bis_register.api import create_app as create_bis

        return create_bis(url, mutations_url=settings.mutations_url)
    if service in SOCIAL_SERVICES:
        from kruispunt.sources.social.api import create_app as create_social

        return create_social(service, settings)
    if service == "employers":
        from kruispunt.employers.api import create_app as create_employers

        return create_employers(settings)
    if service == "mutations":
        from kruispunt.mutations.api import create_app as create_mutations

        return create_mutations(settings)
    if service == "rights":
        from kruispunt.rights.api import create_app as create_rights

        return create_rights(settings)
    if service == "coding":
        from kruispunt.coding.api import callers_of
        from kruispunt.coding.api import create_app as create_coding

        return create_coding(database_url=url, callers=callers_of(settings))
    if service == "warehouse":
        from kruispunt.warehouse.api import create_warehouse_app

        return create_warehouse_app(settings)
    if service == "idp":
        return _idp_app(settings)
    if service == "portal":
        return _portal_app(settings)
    raise ValueError(f"unknown service {service!r}")


def _portal_secret(settings: Settings) -> str:
    if settings.idp_url is None or settings.portal_url is None or settings.portal_client_secret is None:
        raise ValueError(
            "the portal and its identity provider need KRUISPUNT_IDP_URL, KRUISPUNT_PORTAL_URL "
            "and KRUISPUNT_PORTAL_CLIENT_SECRET"
        )
    return settings.portal_client_secret.get_secret_value()


def _idp_app(settings: Settings) -> object:
    """The development identity provider, with the people ``up`` drew from the synthetic nation."""
    from kruispunt.idp.api import create_app as create_idp
    from kruispunt.idp.seed import read_people
    from kruispunt.idp.service import ClientConfig

    secret = _portal_secret(settings)
    folder = settings.data_dir / "idp"
    citizens, users = read_people(folder)
    portal = ClientConfig(
        client_id="portal",
        redirect_uris=(f"{str(settings.portal_url).rstrip('/')}/auth/callback",),
        client_secret=secret,
    )
    return create_idp(
        issuer=str(settings.idp_url),
        clients={"portal": portal},
        users=users,
        citizens=citizens,
        key_path=folder / "signing-key.pem",
    )


def _portal_app(settings: Settings) -> object:
    """The portal over every service of the network, logging in at the development identity provider."""
    from kruispunt.portal.areas import AreaContext, area_routers
    from kruispunt.portal.login import OidcLogin
    from kruispunt.portal.oidc import OidcClient
    from kruispunt.portal.roles import read_roles
    from kruispunt.portal.web import create_app as create_portal

    secret = _portal_secret(settings)
    urls = {**settings.endpoints}
    for name, value in (
        ("hub", settings.hub_url),
        ("mutations", settings.mutations_url),
        ("coding", settings.coding_url),
        ("warehouse", settings.warehouse_url),
        ("idp", settings.idp_url),
    ):
        if value:
            urls[name] = value
    urls.update(json.loads(os.environ.get("KRUISPUNT_SERVICE_URLS", "{}")))
    login = OidcLogin(
        OidcClient(
            str(settings.idp_url),
            "portal",
            secret,
            f"{str(settings.portal_url).rstrip('/')}/auth/callback",
        )
    )
    folder = settings.data_dir / "portal"
    routers = area_routers(AreaContext(service_urls=urls, data_dir=folder, roles=read_roles(folder)))
    return create_portal(
        service_urls=urls,
        start_login=login.start_login,
        finish_login=login.finish_login,
        routers=routers,
        signer=_ksz_identity(settings),
    )


def _ksz_identity(settings: Settings) -> object:
    """The KSZ's key and certificate, with which the portal signs its messages to the hub (None when
    the network has no CA: the hub then does not check signatures either)."""
    from kruispunt.network import KSZ
    from kruispunt.trust.ca import TrustError, load_identity

    try:
        return load_identity(settings.data_dir / "trust", KSZ)
    except TrustError:
        return None


def serve_service(
    service: str, *, host: str, port: int, workers: int = 1, worker_index: int | None = None
) -> int:
    """Run one service in the foreground; the hub may run as several worker processes on one port."""
    if service == "hub" and workers > 1:
        return _serve_hub_workers(host=host, port=port, workers=workers)
    app = create_service_app(service)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    if worker_index is None:
        server.run()
    else:
        server.run(sockets=[_reuse_port_socket(host, port)])
    return 0


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that several worker processes bind together; the kernel spreads connections."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    """Child service processes started together and stopped together.

    Ctrl-C (SIGINT) or SIGTERM asks every child to stop, waits for them, then the supervisor returns; a child
    that dies on its own stops the others too (a half-running network would only mislead).
    """

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "kruispunt", *args], env=env, start_new_session=True
        )
        return self.procs[name]

    def watch(self) -> int:
        """Block until asked to stop (0) or until a child dies (1)."""
        while not self.stopping:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    print(
                        f"{name} stopped unexpectedly (exit {proc.returncode})", file=sys.stderr, flush=True
                    )
                    return 1
            time.sleep(0.3)
        return 0

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _serve_hub_workers(*, host: str, port: int, workers: int) -> int:
    """Prepare the hub once, then run ``workers`` hub processes on one port, each writing its own chain of
    the log (the log's writer is per process)."""
    from kruispunt.hub.service import prepare_hub

    prepare_hub(get_settings())
    supervisor = Supervisor()
    try:
        for k in range(workers):
            env = {**os.environ, "KRUISPUNT_AUDIT_CHAIN": str(k), "KRUISPUNT_HUB_PREPARED": "1"}
            args = ("serve", "hub", "--host", host, "--port", str(port), "--worker-index", str(k))
            supervisor.start(f"hub-{k}", *args, env=env)
        return supervisor.watch()
    finally:
        supervisor.stop_all()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, first: int, count: int) -> list[int]:
    """``count`` free ports from ``first`` upwards, so that `up` still starts when 8000 is taken."""
    ports: list[int] = []
    candidate = first
    while len(ports) < count and candidate < 65535:
        if _port_free(host, candidate):
            ports.append(candidate)
        candidate += 1
    return ports


def _wait_all_healthy(
    services: dict[str, tuple[str, subprocess.Popen[bytes]]], timeout_s: float
) -> list[str]:
    """Poll every service's ``/health`` until all answer; the names of those that did not (died or timed
    out)."""
    waiting = dict(services)
    failed: list[str] = []
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while waiting and time.monotonic() < deadline:
            for name, (url, proc) in list(waiting.items()):
                if proc.poll() is not None:
                    failed.append(name)
                    del waiting[name]
                    continue
                try:
                    if client.get(f"{url}/health").status_code == 200:
                        del waiting[name]
                except httpx.HTTPError:
                    pass
            if waiting:
                time.sleep(0.2)
    return failed + list(waiting)


def _write_logins(settings: Settings, *, persons: int, seed: int) -> None:
    """People of the nation for the development identity provider; their logins in ``examples/``."""
    from kruispunt.idp.seed import write_people
    from kruispunt.portal.roles import write_roles
    from kruispunt.simulate import generate_population
    from kruispunt.simulate.employers import generate_employers
    from kruispunt.simulate.lives import employer_count

    logins = write_people(settings.data_dir / "idp", generate_population(min(persons, 2000), seed))
    examples = settings.data_dir / "examples"
    examples.mkdir(parents=True, exist_ok=True)
    lines = [f"{x.username}\t{x.password}\t{x.insz}\t{x.name}" for x in logins]
    operator, reviewer = logins[-1], logins[-2]
    # two employers of the seeded repertory (the same table seed_network loaded): the first is an employer,
    # the second acts as a social secretariat; each has one development login as legal representative
    employer, secretariat = (str(k) for k in generate_employers(seed, employer_count(persons)).kbo[:2])
    employer_rep, secretariat_rep = logins[1], logins[2]
    write_roles(
        settings.data_dir / "portal",
        operators=[operator.insz],
        reviewers=[reviewer.insz],
        legal_representatives={employer: [employer_rep.insz], secretariat: [secretariat_rep.insz]},
    )
    (examples / "logins.txt").write_text(
        "# development logins of the portal: username, password (level 200), INSZ, name\n"
        f"# network operator: {operator.username}; reviewer of research requests: {reviewer.username}\n"
        f"# legal representative of employer {employer}: {employer_rep.username}\n"
        f"# legal representative of social secretariat {secretariat}: {secretariat_rep.username}\n"
        + "\n".join(lines)
        + "\n",
        encoding="utf-8",
    )
    print(
        f"portal: {len(logins)} development logins in {examples / 'logins.txt'}", file=sys.stderr, flush=True
    )


def _issue_certificates(settings: Settings) -> None:
    """The development network CA (``<data>/trust``) and a key and certificate for every institution of
    the registry that has none valid, so that institutions can sign their messages and the hub its
    answers."""
    from datetime import UTC, datetime, timedelta

    from kruispunt.network.registry import Registry
    from kruispunt.trust.ca import NetworkCA, TrustError

    ca = NetworkCA.open(settings.data_dir / "trust")
    issued = 0
    for institution in Registry.load_default().institutions():
        try:
            current = ca.identity(institution.kbo).certificate
            if current.not_valid_after_utc > datetime.now(UTC) + timedelta(days=30):
                continue
        except TrustError:
            pass
        ca.save(ca.issue(institution.kbo, institution.name))
        issued += 1
    print(
        f"trust: network CA in {ca.folder}; {issued} institution certificates issued",
        file=sys.stderr,
        flush=True,
    )


def _load_warehouse(urls: dict[str, str], settings: Settings) -> bool:
    """Create the warehouse's coding project at the TTP and load the synthetic nation's last four quarters
    through the network, so the statistics applications open filled. The project is created as the KSZ
    (the TTP refuses an unsigned caller)."""
    from kruispunt.network import KSZ
    from kruispunt.simulate import REFERENCE_DATE
    from kruispunt.trust.receiver import EnvelopeAuth, own_identity
    from kruispunt.warehouse.extract import quarters_before
    from kruispunt.warehouse.schemas import PROJECT

    ksz = own_identity(settings.data_dir / "trust", KSZ)
    with httpx.Client(timeout=httpx.Timeout(900.0)) as client:
        created = client.post(
            f"{urls['coding']}/projects",
            json={"project": PROJECT, "purpose": "data warehouse labour market and social protection"},
            auth=EnvelopeAuth(ksz) if ksz is not None else httpx.USE_CLIENT_DEFAULT,
        )
        if created.status_code not in (200, 201, 409):
            print(f"coding project not created: {created.text[:300]}", file=sys.stderr, flush=True)
            return False
        for quarter in quarters_before(REFERENCE_DATE, 4):
            t0 = time.monotonic()
            response = client.post(f"{urls['warehouse']}/warehouse/loads", json={"quarter": quarter})
            if response.status_code != 200:
                print(f"warehouse: {quarter} not loaded: {response.text[:500]}", file=sys.stderr, flush=True)
                return False
            tables = len(response.json()["tables"])
            print(
                f"warehouse: {quarter} loaded, {tables} tables published ({time.monotonic() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return True


def run_network(*, persons: int, seed: int, host: str, port: int, hub_workers: int = 1) -> int:
    """Seed, start every service, print `NAME URL` lines and `ready`, run until Ctrl-C; the exit code."""
    from kruispunt.seed import seed_network

    settings = get_settings()
    print(f"seeding a synthetic nation of {persons} people (seed {seed}) …", file=sys.stderr, flush=True)
    seeded = seed_network(settings=settings, persons=persons, seed=seed)
    for line in seeded.summary_lines():
        print(line, file=sys.stderr, flush=True)
    _write_logins(settings, persons=persons, seed=seed)
    _issue_certificates(settings)

    services = (*SOURCE_SERVICES, *OTHER_SERVICES, "hub")
    ports = dict(
        zip(("hub", *SOURCE_SERVICES, *OTHER_SERVICES), _free_ports(host, port, len(services)), strict=True)
    )
    urls = {name: f"http://{host}:{ports[name]}" for name in services}
    env = {
        **os.environ,
        "KRUISPUNT_ENDPOINTS": json.dumps({s: urls[s] for s in SOURCE_SERVICES}),
        "KRUISPUNT_HUB_URL": urls["hub"],
        "KRUISPUNT_MUTATIONS_URL": urls["mutations"],
        "KRUISPUNT_CODING_URL": urls["coding"],
        "KRUISPUNT_WAREHOUSE_URL": urls["warehouse"],
        "KRUISPUNT_IDP_URL": urls["idp"],
        "KRUISPUNT_PORTAL_URL": urls["portal"],
        "KRUISPUNT_PORTAL_CLIENT_SECRET": secrets.token_urlsafe(32),
        "KRUISPUNT_SERVICE_URLS": json.dumps(urls),
    }
    supervisor = Supervisor()
    try:
        for name in services:
            extra = ("--workers", str(hub_workers)) if name == "hub" else ()
            supervisor.start(name, "serve", name, "--host", host, "--port", str(ports[name]), *extra, env=env)
        started = {name: (urls[name], supervisor.procs[name]) for name in services}
        failed = _wait_all_healthy(started, timeout_s=180)
        if failed:
            print(f"{', '.join(failed)} did not start; see the messages above", file=sys.stderr, flush=True)
            return 1
        for name in ("hub", *SOURCE_SERVICES, *OTHER_SERVICES):
            print(f"{name} {urls[name]}", flush=True)
        if not _load_warehouse(urls, settings):
            return 1
        print("ready", flush=True)
        return supervisor.watch()
    finally:
        supervisor.stop_all()
