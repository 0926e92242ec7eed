"""Coding and decoding by the trusted third party.

A code is ``HMAC-SHA256(project key, INSZ)``, truncated to 96 bits and written in base 32: the same INSZ gets
the same code in a project (records link within it), and another code in every other project, because each
project has its own random key, created here and never handed out. Decoding (code → INSZ) exists only for a
reason approved by a decision (its reference, for that project, not expired); every request is logged,
granted or refused.

**Where the keys live.** By default in the ``project`` table of this database. With the environment variable
``KRUISPUNT_CODING_KEY_DIR`` (or ``key_dir=`` given to the functions) set to a folder, a new project's key is
written there instead, as ``<project>.key`` (64 hex digits, mode 0600, folder 0700), and the database keeps an
empty key: a copy of the database alone then codes and decodes nothing. A key file already there is kept (its
codes must not change); a key file readable by group or others is refused. A project created with its key in
the database keeps it there.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, insert, select

from kruispunt.coding.models import code_link_table, decoding_approval_table, decoding_table, project_table
from kruispunt.ids import InvalidIdentifier, validate_insz


class CodingError(ValueError):
    """A request the trusted third party refuses: ``code`` says why (for the API and the log)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


KEY_DIR_ENV = "KRUISPUNT_CODING_KEY_DIR"
"""The folder of the project key files; unset: keys in the database."""

PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A project name: also the name of its key file, so no slash and no leading dot."""


def key_dir_setting() -> Path | None:
    """The key folder from the environment (read at each call, so a service started with it uses it)."""
    value = os.environ.get(KEY_DIR_ENV, "").strip()
    return Path(value) if value else None


def create_project(conn: Connection, *, project: str, purpose: str, key_dir: Path | None = None) -> None:
    """A project with a fresh secret key (a project that exists keeps its key: its codes must not change)."""
    if not PROJECT_NAME.match(project):
        raise CodingError(
            "INVALID_PROJECT", f"{project!r} is not a project name (letters, digits, . _ -, at most 64)"
        )
    if conn.execute(select(project_table.c.project).where(project_table.c.project == project)).first():
        raise CodingError("PROJECT_EXISTS", f"project {project} exists")
    folder = key_dir or key_dir_setting()
    if folder is None:
        key = secrets.token_bytes(32)
    else:
        _write_key_file(folder, project)
        key = b""  # the key is in the file
    conn.execute(insert(project_table).values(project=project, purpose=purpose, key=key, created_at=_now()))


def _write_key_file(folder: Path, project: str) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{project}.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _read_key_file(folder, project)  # kept, if it is a sound key file
        return
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")


def _read_key_file(folder: Path, project: str) -> bytes:
    path = folder / f"{project}.key"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CodingError("KEY_UNAVAILABLE", f"the key file of {project} cannot be read in {folder}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CodingError(
            "KEY_FILE_UNSAFE", f"the key file of {project} is open to group or others: chmod 600"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise CodingError("KEY_UNAVAILABLE", f"the key file of {project} is not 64 hex digits") from exc
    if len(key) < 16:
        raise CodingError("KEY_UNAVAILABLE", f"the key file of {project} holds too short a key")
    return key


def _key(conn: Connection, project: str, key_dir: Path | None = None) -> bytes:
    row = conn.execute(select(project_table.c.key).where(project_table.c.project == project)).first()
    if row is None:
        raise CodingError("UNKNOWN_PROJECT", f"no project {project}")
    if row.key:
        return bytes(row.key)
    folder = key_dir or key_dir_setting()
    if folder is None:
        raise CodingError("KEY_UNAVAILABLE", f"the key of {project} is in a key file: set {KEY_DIR_ENV}")
    return _read_key_file(folder, project)


def code_of(key: bytes, insz: str) -> str:
    digest = hmac.new(key, insz.encode("ascii"), hashlib.sha256).digest()[:12]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def code(conn: Connection, *, project: str, inszs: Sequence[str], key_dir: Path | None = None) -> list[str]:
    """The project's code of each INSZ, in order; the links are kept for an approved decoding."""
    key = _key(conn, project, key_dir)
    checked: list[str] = []
    for position, raw in enumerate(inszs):
        try:
            checked.append(validate_insz(raw).number)
        except InvalidIdentifier as exc:
            raise CodingError("INVALID_INSZ", f"item {position}: {exc}") from exc
    codes = [code_of(key, insz) for insz in checked]
    _keep_links(conn, project, codes, checked)
    return codes


def _keep_links(conn: Connection, project: str, codes: Sequence[str], inszs: Sequence[str]) -> None:
    """Insert the links not kept yet, in bulk (``ON CONFLICT DO NOTHING`` on both engines).

    Plain tuples through the driver's ``executemany``, in code order (appends to the index), a slice at a
    time: for the millions of a quarterly extract, a dict per row for SQLAlchemy cost several times the
    hashing, and whole-list copies several gigabytes."""
    marker = "%s" if conn.dialect.name == "postgresql" else "?"
    statement = (
        f"INSERT INTO {code_link_table.name} (project, code, insz) "  # noqa: S608 (table name is ours)
        f"VALUES ({marker}, {marker}, {marker}) ON CONFLICT (project, code) DO NOTHING"
    )
    order = np.argsort(np.asarray(codes, dtype="U20"), kind="stable")
    for i in range(0, len(order), _BULK):
        chunk = order[i : i + _BULK].tolist()
        conn.exec_driver_sql(statement, [(project, codes[k], inszs[k]) for k in chunk])


_BULK = 50_000
_IN_CHUNK = 900  # below SQLite's oldest bound-parameter limit (999)
_COMPACT_INSZ = r"^\d{2}(0\d|1[0-2]|2\d|3[0-2]|4\d|5[0-2])\d{5}\d{2}$"


def _as_strings(values: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    array = values if isinstance(values, pa.Array) else pa.array(list(values), type=pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise CodingError("INVALID_INSZ", f"INSZ must be strings, not {array.type}")
    return array


def _first_bad_insz(array: pa.Array) -> int | None:
    """The position of the first value that is not a compact valid INSZ, checked column-wise (no Python
    loop over millions): 11 digits, a possible month, a counter 001–998, right check digits."""
    if len(array) == 0:
        return None
    shape = pc.fill_null(pc.match_substring_regex(array, _COMPACT_INSZ), False)
    safe = pc.if_else(shape, array, pa.scalar("00010100197"))
    first9 = pc.cast(pc.utf8_slice_codeunits(safe, 0, 9), pa.int64())
    check = pc.cast(pc.utf8_slice_codeunits(safe, 9, 11), pa.int64())
    counter = pc.cast(pc.utf8_slice_codeunits(safe, 6, 9), pa.int64())
    c1900 = pc.subtract(97, _mod97(first9))
    c2000 = pc.subtract(97, _mod97(pc.add(first9, 2_000_000_000)))
    good = pc.and_(
        shape,
        pc.and_(
            pc.or_(pc.equal(check, c1900), pc.equal(check, c2000)),
            pc.and_(pc.not_equal(counter, 0), pc.not_equal(counter, 999)),
        ),
    )
    bad = pc.index(good, False).as_py()
    return None if bad < 0 else int(bad)


def _mod97(values: pa.Array) -> pa.Array:
    return pc.subtract(values, pc.multiply(pc.divide(values, 97), 97))  # integer division on int64


_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_BIT_WEIGHTS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def _base32_many(digests: list[bytes]) -> list[str]:
    """:func:`code_of`'s text of many 12-byte digests at once (lower-case base 32 without padding: 96 bits →
    20 letters, the last padded with 4 zero bits); per-item ``b32encode`` costs more than the HMAC."""
    if not digests:
        return []
    raw = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 12)
    bits = np.unpackbits(raw, axis=1)
    bits = np.concatenate([bits, np.zeros((len(raw), 4), dtype=np.uint8)], axis=1).reshape(-1, 20, 5)
    letters = _ALPHABET[bits @ _BIT_WEIGHTS]
    codes: list[str] = letters.view("S20").ravel().astype("U20").tolist()
    return codes


def code_many(
    conn: Connection,
    *,
    project: str,
    inszs: Sequence[str] | pa.Array | pa.ChunkedArray,
    key_dir: Path | None = None,
) -> list[str]:
    """:func:`code` for millions: the INSZ must be compact (11 digits, as machines send them); checked
    column-wise, coded with ``hmac.digest`` in one comprehension, links kept in bulk. All or nothing."""
    key = _key(conn, project, key_dir)
    array = _as_strings(inszs)
    bad = _first_bad_insz(array)
    if bad is not None:
        value = array[bad].as_py()
        if value is None:
            raise CodingError("INVALID_INSZ", f"item {bad}: no INSZ (null)")
        try:
            number = validate_insz(value).number
        except InvalidIdentifier as exc:
            raise CodingError("INVALID_INSZ", f"item {bad}: {exc}") from exc
        raise CodingError("INVALID_INSZ", f"item {bad}: {value!r} is not in compact form (use {number})")
    values: list[str] = array.to_pylist()
    codes = _base32_many([hmac.digest(key, v.encode("ascii"), "sha256")[:12] for v in values])
    _keep_links(conn, project, codes, values)
    return codes


def inszs_of(conn: Connection, *, project: str, codes: Sequence[str]) -> list[str]:
    """The INSZ behind each code of ``project``, in order (for :func:`recode` only: never answered to a
    caller; an unknown code names its item)."""
    _key_exists(conn, project)
    c = code_link_table.c
    wanted = sorted(set(codes))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i : i + _IN_CHUNK]
        rows = conn.execute(select(c.code, c.insz).where(c.project == project, c.code.in_(chunk)))
        found.update((r.code, r.insz) for r in rows)
    for position, value in enumerate(codes):
        if value not in found:
            raise CodingError("UNKNOWN_CODE", f"item {position}: no code {value[:40]!r} in {project}")
    return [found[v] for v in codes]


def recode(
    conn: Connection,
    *,
    from_project: str,
    to_project: str,
    codes: Sequence[str],
    key_dir: Path | None = None,
) -> list[str]:
    """The codes in ``to_project`` of the persons behind ``codes`` of ``from_project``, in order: how the
    warehouse gets a research project's codes without ever seeing an INSZ. The links are kept."""
    if from_project == to_project:
        raise CodingError("SAME_PROJECT", "recoding needs two different projects")
    _key(conn, to_project, key_dir)
    return code_many(
        conn, project=to_project, inszs=inszs_of(conn, project=from_project, codes=codes), key_dir=key_dir
    )


def _key_exists(conn: Connection, project: str) -> None:
    if not conn.execute(select(project_table.c.project).where(project_table.c.project == project)).first():
        raise CodingError("UNKNOWN_PROJECT", f"no project {project}")


def approve_decoding(
    conn: Connection, *, reference: str, project: str, purpose: str, expires: dt.date
) -> None:
    """Record a decision that allows decoding in ``project`` until ``expires`` (inclusive)."""
    _key_exists(conn, project)
    if conn.execute(
        select(decoding_approval_table.c.reference).where(decoding_approval_table.c.reference == reference)
    ).first():
        raise CodingError("APPROVAL_EXISTS", f"approval {reference} is recorded already")
    conn.execute(
        insert(decoding_approval_table).values(
            reference=reference, project=project, purpose=purpose, expires=expires
        )
    )


def decode(
    conn: Connection,
    *,
    project: str,
    code_value: str,
    reason: str,
    approval: str | None,
    today: dt.date | None = None,
) -> str:
    """The INSZ behind a code, under an approval in force for the project (callers go through
    :func:`decode_logged`, which logs every request)."""
    today = today or _now().date()
    if not PROJECT_NAME.match(project):
        raise CodingError("UNKNOWN_PROJECT", f"no project {project[:64]!r}")
    if not reason.strip():
        raise CodingError("NO_REASON", "a decoding needs a reason")
    if approval is None:
        raise CodingError("NO_APPROVAL", "a decoding needs the reference of the decision that allows it")
    a = decoding_approval_table.c
    row = conn.execute(select(a.project, a.expires).where(a.reference == approval)).first()
    if row is None or row.project != project:
        raise CodingError("APPROVAL_NOT_FOR_PROJECT", f"{approval} does not allow decoding in {project}")
    if row.expires < today:
        raise CodingError("APPROVAL_EXPIRED", f"{approval} expired on {row.expires.isoformat()}")
    c = code_link_table.c
    insz = conn.execute(select(c.insz).where(c.project == project, c.code == code_value)).scalar()
    if insz is None:
        raise CodingError("UNKNOWN_CODE", f"no code {code_value} in {project}")
    return str(insz)


def decode_logged(
    conn: Connection,
    *,
    project: str,
    code_value: str,
    requested_by: str,
    reason: str,
    approval: str | None,
    today: dt.date | None = None,
) -> str:
    """:func:`decode` with its log entry written in ``conn``'s transaction, granted or refused (a refusal
    is raised after the entry is written: the caller commits it)."""
    try:
        insz = decode(
            conn,
            project=project,
            code_value=code_value,
            reason=reason,
            approval=approval,
            today=today,
        )
    except CodingError as exc:
        _log(conn, project, code_value, requested_by, reason, approval, exc.code)
        raise
    _log(conn, project, code_value, requested_by, reason, approval, "granted")
    return insz


def _log(
    conn: Connection,
    project: str,
    code_value: str,
    requested_by: str,
    reason: str,
    approval: str | None,
    outcome: str,
) -> None:
    conn.execute(
        insert(decoding_table).values(
            project=project[:64],
            code=code_value[:32],
            requested_by=requested_by[:64],
            reason=reason,
            approval=approval[:32] if approval else None,
            outcome=outcome,
            at=_now(),
        )
    )


def decodings(conn: Connection, *, project: str) -> list[dict[str, object]]:
    """The decoding log of a project, oldest first."""
    d = decoding_table.c
    rows = conn.execute(select(decoding_table).where(d.project == project).order_by(d.id))
    return [dict(r._mapping) for r in rows]
