"""The hub's checkpointer: signs a checkpoint of the log every ``checkpoint_interval_s`` when it grew.

Why in the hub's first process only (chain 0): one signer is enough and two would race for the next
checkpoint number; a checkpoint covers every chain whichever process signs it. The key is the KSZ's
institution key in the published keys folder (created on first use, its public JWK written beside it, so
``GET /hub/keys`` publishes it and anyone can check a checkpoint offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from sqlalchemy import Engine, func, select
from starlette.concurrency import run_in_threadpool

from kruispunt.attest.keys import KeySet, SigningKey
from kruispunt.audit.checkpoints import Checkpoint, create_checkpoint, latest_checkpoint
from kruispunt.audit.models import audit_entry
from kruispunt.network import KSZ
from kruispunt.sources.social.signing import load_signing_key

log = logging.getLogger("kruispunt.audit.checkpoints")


def log_signing_key(keys_dir: Path) -> SigningKey:
    """The KSZ's key, which signs the checkpoints (kept in the network's keys folder)."""
    return load_signing_key(keys_dir, KSZ)


def checkpoint_if_grown(engine: Engine, key: SigningKey) -> Checkpoint | None:
    """A new checkpoint when the log holds entries the latest one does not cover; otherwise ``None``."""
    with engine.connect() as conn:
        latest = latest_checkpoint(conn, KeySet.of([key]))
        total = conn.execute(select(func.count()).select_from(audit_entry)).scalar() or 0
    covered = sum(s.size for s in latest.chains) if latest is not None else 0
    if total == covered:
        return None
    return create_checkpoint(engine, key)


class Checkpointer:
    """A background task signing checkpoints; ``stop`` waits for a checkpoint being written."""

    def __init__(self, engine: Engine, key: SigningKey, interval_s: float) -> None:
        self.engine = engine
        self.key = key
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                made = await run_in_threadpool(checkpoint_if_grown, self.engine, self.key)
            except Exception:  # a failed checkpoint is retried at the next interval; the log is untouched
                log.exception("checkpoint failed; retrying in %.0f s", self.interval_s)
                continue
            if made is not None:
                sizes = ", ".join(f"chain {s.chain}: {s.size}" for s in made.chains)
                log.info("checkpoint %d signed (%s)", made.id, sizes)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
