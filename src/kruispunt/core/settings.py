"""One settings object for every kruispunt process, read from ``KRUISPUNT_*`` environment variables.

Why one object: every service (hub, sources) starts from the same place, so a deployment is configured
the same way everywhere and a bad value fails at start-up, not at the first message.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KRUISPUNT_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder with the SQLite files of every service.")
    db_url: str | None = Field(
        default=None,
        description=(
            "Base database URL. Unset: one SQLite file per service in data_dir. A PostgreSQL URL: one "
            "database per service on that server, named <database>_<service>."
        ),
    )
    deliberations_dir: Path = Field(
        default=REPO_ROOT / "deliberations",
        description="Folder of deliberation YAML files loaded and checked at start-up.",
    )
    endpoints: dict[str, str] = Field(
        default_factory=dict,
        description='Where each source service answers, e.g. {"national_register": "http://127.0.0.1:8001"}.',
    )
    hub_url: str | None = Field(
        default=None,
        description=(
            "Where the hub answers (its persons directory REST API), for sources that register the people "
            "they open a file on; set by `kruispunt up`."
        ),
    )
    provider_timeout_s: float = Field(default=5.0, gt=0, description="How long the hub waits for a source.")
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest request body any service accepts."
    )
    audit_chain: int = Field(
        default=0,
        ge=0,
        le=999,
        description="This hub process's chain in the log (each worker process writes its own chain).",
    )
    signatures: Literal["off", "verify", "required"] = Field(
        default="verify",
        description="Signed envelopes at the hub: 'verify' checks a signature when one is sent and refuses a "
        "bad one; 'required' also refuses an unsigned message; 'off' ignores them. The network CA is read "
        "from <data_dir>/trust.",
    )
    rate_limit_per_s: float = Field(
        default=2000.0,
        ge=0,
        description="Messages per second one institution may send to one hub process (0: no limit).",
    )
    rate_limit_burst: int = Field(default=4000, ge=1, description="Messages an institution may send at once.")
    checkpoint_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="How often the hub (its chain-0 process) signs a checkpoint of the log; 0: never.",
    )
    hub_prepared: bool = Field(
        default=False,
        description="Set for hub workers: migrations and seeding were done by the process that started them.",
    )
    audit_flush_ms: float = Field(default=2.0, ge=0, description="Group-commit window of the audit writer.")
    audit_batch_max: int = Field(default=512, gt=0, description="Largest group commit of the audit writer.")
    batch_max_bytes: int = Field(
        default=200 * 1024 * 1024, gt=0, description="Largest batch file `POST /hub/batches` accepts."
    )
    batch_chunk_lines: int = Field(
        default=500, gt=0, le=10_000, description="Lines of a batch run through the pipeline together."
    )
    batch_concurrency: int = Field(
        default=4, gt=0, le=64, description="Chunks of one batch in flight at once (in one hub process)."
    )
    batch_provider_timeout_s: float = Field(
        default=120.0, gt=0, description="How long the hub waits for a source's answer to one bulk call."
    )
    batch_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A batch claimed by a hub process that stopped renewing it for this long is taken over.",
    )
    batch_poll_s: float = Field(default=1.0, gt=0, description="How often an idle hub looks for queued work.")
    mutations_url: str | None = Field(
        default=None,
        description="Where the change-notification service answers (sources publish changes there).",
    )
    coding_url: str | None = Field(
        default=None,
        description="Where the trusted third party answers (the hub has warehouse extracts coded there).",
    )
    warehouse_url: str | None = Field(default=None, description="Where the data warehouse service answers.")
    idp_url: str | None = Field(default=None, description="The issuer URL of the OpenID Connect provider.")
    portal_url: str | None = Field(default=None, description="Where the portal answers.")
    portal_client_secret: SecretStr | None = Field(
        default=None,
        description="The portal's secret at the identity provider (no default; `up` makes one per run).",
    )
    mutations_transport: str = Field(
        default="database",
        pattern="^(database|nats)$",
        description="How changes travel to recipients: the database (embedded) or NATS JetStream (scale).",
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="The NATS server of the NATS transport."
    )
    nats_stream: str = Field(
        default="KRUISPUNT_CHANGES",
        pattern=r"^[A-Z][A-Z0-9_]{0,63}$",
        description="The JetStream stream of the NATS transport (its subjects follow from its name).",
    )
    mutations_max_batch_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest batch of changes `POST /mutations/changes` takes.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
