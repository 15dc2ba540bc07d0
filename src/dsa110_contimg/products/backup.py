"""Backups of the products DB and the catalog store, taken while the pipeline runs.

A backup is one folder::

    DEST/
      manifest.json       what was copied: revision, row counts, sizes, SHA-256
      products.sqlite3    the products DB (SQLite), or
      products.pgdump     the products DB (PostgreSQL, pg_dump's custom format)
      catalogs.sqlite3    the catalog store (unless left out)

Consistency while the daemon writes
-----------------------------------
SQLite: the online backup API (:meth:`sqlite3.Connection.backup`) copies
every page in one step inside one read transaction; in WAL mode writers go on
meanwhile and the copy is the database as of the step's start. PostgreSQL:
a REPEATABLE READ transaction exports its snapshot
(``pg_export_snapshot()``), counts the rows in it, and ``pg_dump
--snapshot`` dumps exactly that snapshot, so the manifest's counts are the
dump's counts. The folder is written under a temporary name and renamed into
place when complete (:func:`~dsa110_contimg.atomic.atomic_output`).

Restore
-------
Before anything is replaced the backup is checked: the files' SHA-256
against the manifest, ``PRAGMA integrity_check`` and the row counts of a
SQLite copy (``pg_restore --list`` for a dump), and its Alembic revision,
which must be the code's head or older (then the report says to run ``dsa110
db upgrade``); a newer or unknown revision is refused. A target that holds
tables is live and is only replaced with ``force``; it is first saved as a
backup of its own under ``state_dir/backups/pre-restore-<time>``. The
replacement is atomic: a missing SQLite file is written under a temporary name
and renamed; an existing one is overwritten through the backup API in one
write transaction (safe for other open connections, WAL included); a
PostgreSQL DB is rebuilt by ``psql --single-transaction`` (drop the schema,
the dump's SQL, then a check of every table's count that rolls everything
back on a mismatch).

The catalog store is reference data imported from survey files; it is backed
up and restored alongside (SQLite, same rules, no revision) because
re-importing the big surveys takes long, and ``catalogs=False`` leaves it out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from dsa110_contimg import __version__
from dsa110_contimg.atomic import atomic_output, discard, fsync_path, partial_path, publish
from dsa110_contimg.config import mask_url_password
from dsa110_contimg.errors import (
    DatabaseError,
    DSA110Error,
    InputDataError,
    ProductExistsError,
    ToolMissingError,
)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
"""Version of the backup folder's layout (``manifest.json``'s ``format``)."""

SQLITE_BUSY_TIMEOUT_S = 60.0
"""How long a backup or restore waits for a SQLite lock, seconds."""


@dataclass(frozen=True)
class Part:
    """One copied database of a backup: file, size, checksum, revision and row counts."""

    kind: str  # "products" or "catalogs"
    backend: str  # "sqlite" or "postgresql"
    file: str
    bytes: int
    sha256: str
    counts: dict[str, int]
    revision: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BackupReport:
    """What :func:`backup` wrote."""

    path: Path
    parts: list[Part]
    seconds: float


@dataclass
class RestoreReport:
    """What :func:`restore` did (or, with ``dry_run``, would do)."""

    source: Path
    revision: str | None
    head: str
    needs_upgrade: bool
    restored: list[str] = field(default_factory=list)
    saved_previous: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


# -- helpers ------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise DatabaseError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DatabaseError("an in-memory SQLite DB cannot be backed up or restored")
    return Path(database)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
    return sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {n: conn.execute(f"SELECT count(*) FROM {_quote(n)}").fetchone()[0] for n in names}


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _sqlite_integrity(path: Path) -> None:
    """Raise :class:`InputDataError` unless ``PRAGMA integrity_check`` says ok."""
    try:
        conn = _connect(path, read_only=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputDataError(f"{path} is not a readable SQLite DB: {exc}") from exc
    if problems != ["ok"]:
        raise InputDataError(
            f"{path} fails PRAGMA integrity_check: {'; '.join(problems[:5])}",
            hint="this backup is damaged: restore another one",
        )


def _sqlite_holds_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = _connect(path, read_only=True)
    try:
        return bool(_sqlite_counts(conn))
    except sqlite3.DatabaseError:
        return True  # something is there that is not ours to overwrite quietly
    finally:
        conn.close()


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed * 1.1 + (64 << 20):
        raise DSA110Error(
            f"not enough space in {folder}: {free / 1e9:.2f} GB free, "
            f"about {needed / 1e9:.2f} GB needed",
            hint="choose another destination or free some space",
        )


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(
            f"{name} is not installed (needed for PostgreSQL backups)",
            hint="apt-get install postgresql-client",
        )
    return found


def _pg_env(url: str) -> tuple[dict[str, str], str]:
    """libpq variables for ``url`` (the password never on a command line) and the DB name."""
    parsed = make_url(url)
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGSSLMODE", parsed.query.get("sslmode")),
    ):
        if value is not None:
            env[key] = str(value)
    if not parsed.database:
        raise DatabaseError("the PostgreSQL URL names no database")
    return env, parsed.database


def _run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise DatabaseError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}")
    return done


def _engine(url: str, **kwargs: Any) -> sa.Engine:
    from dsa110_contimg.products.db import normalise_url

    return sa.create_engine(normalise_url(url), **kwargs)


def _pg_counts(conn: sa.Connection) -> dict[str, int]:
    names = conn.scalars(
        sa.text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
    ).all()
    return {n: conn.scalar(sa.text(f"SELECT count(*) FROM {_quote(n)}")) for n in names}


# -- backup -------------------------------------------------------------------
def _backup_sqlite(source: Path, out: Path, kind: str) -> Part:
    if not source.exists():
        raise DatabaseError(f"no {kind} DB at {source}")
    _check_space(out.parent, source.stat().st_size)
    src = _connect(source)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        counts, revision = _sqlite_counts(dst), _sqlite_revision(dst)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot back up {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    _sqlite_integrity(out)
    return Part(
        kind=kind,
        backend="sqlite",
        file=out.name,
        bytes=out.stat().st_size,
        sha256=_sha256(out),
        counts=counts,
        revision=revision if kind == "products" else None,
    )


def _backup_postgres(url: str, out: Path) -> Part:
    pg_dump = _program("pg_dump")
    env, database = _pg_env(url)
    engine = _engine(url, isolation_level="REPEATABLE READ", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            size = conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
            _check_space(out.parent, int(size or 0) // 2)
            snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
            counts = _pg_counts(conn)
            revision = (
                conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
                if "alembic_version" in counts
                else None
            )
            # the transaction stays open until pg_dump has imported its snapshot
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={out}", database],
                env,
                "pg_dump",
            )
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot reach the products DB: {exc.orig}") from exc
    finally:
        engine.dispose()
    return Part(
        kind="products",
        backend="postgresql",
        file=out.name,
        bytes=out.stat().st_size,
        sha256=_sha256(out),
        counts=counts,
        revision=revision,
    )


def backup(db_url: str, dest: str | Path, *, catalog_db: str | Path | None = None) -> BackupReport:
    """Copy the products DB (and the catalog store) into the new folder ``dest``.

    Parameters
    ----------
    db_url
        The products DB's URL (SQLite or PostgreSQL).
    dest
        The backup folder; it must not exist, or be empty. Written under a
        temporary name beside it and renamed when complete.
    catalog_db
        The catalog store's SQLite file; None leaves it out (as does a
        missing file, which the manifest records).

    Raises
    ------
    ProductExistsError
        ``dest`` exists and is not empty.
    DatabaseError
        The DB is unreachable, or pg_dump failed.
    ToolMissingError
        pg_dump is not installed (PostgreSQL).
    """
    start = dt.datetime.now(dt.UTC)
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ProductExistsError(f"{dest} exists", hint="give a new folder for each backup")
    backend = _backend(db_url)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return _write_backup(db_url, dest, backend, catalog_db, start)
    except OSError as exc:  # permissions, a full disk: nothing is left at dest
        raise DSA110Error(f"cannot write the backup {dest}: {exc}") from exc


def _write_backup(
    db_url: str, dest: Path, backend: str, catalog_db: str | Path | None, start: dt.datetime
) -> BackupReport:
    with atomic_output(dest, overwrite=dest.exists(), durable=True, mkdir=True) as tmp:
        if backend == "sqlite":
            parts = [_backup_sqlite(_sqlite_file(db_url), tmp / "products.sqlite3", "products")]
        else:
            parts = [_backup_postgres(db_url, tmp / "products.pgdump")]
        skipped = None
        if catalog_db is not None:
            if Path(catalog_db).exists():
                parts.append(_backup_sqlite(Path(catalog_db), tmp / "catalogs.sqlite3", "catalogs"))
            else:
                skipped = f"no catalog store at {catalog_db}"
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": start.isoformat(),
            "software_version": __version__,
            "host": socket.gethostname(),
            "source_url": mask_url_password(db_url),
            "catalog_store": str(catalog_db) if catalog_db is not None else None,
            "catalogs_skipped": skipped,
            "parts": [p.to_json() for p in parts],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    seconds = (dt.datetime.now(dt.UTC) - start).total_seconds()
    return BackupReport(dest, parts, seconds)


# -- checking a backup ----------------------------------------------------------
def read_manifest(src: str | Path) -> dict[str, Any]:
    """The manifest of backup folder ``src``, checked for form."""
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError(
            f"{src} is not a backup: no {MANIFEST}", hint="give a folder `dsa110 db backup` made"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputDataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise InputDataError(f"{path}: unknown backup format {manifest.get('format')!r}")
    try:
        manifest["parts"] = [Part(**p) for p in manifest["parts"]]
    except (KeyError, TypeError) as exc:
        raise InputDataError(f"{path}: malformed manifest ({exc})") from exc
    return manifest


def check_revision(revision: str | None) -> bool:
    """Whether a backup at ``revision`` needs ``db upgrade`` after restoring (False: at head).

    Raises
    ------
    InputDataError
        No revision (not a products DB), or one newer than or unknown to this code.
    """
    from alembic.script import ScriptDirectory

    from dsa110_contimg.products.migrate import alembic_config, head_revision

    head = head_revision()
    if revision is None:
        raise InputDataError("the backup holds no Alembic revision: not a products DB")
    if revision == head:
        return False
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {rev.revision for rev in script.iterate_revisions(head, "base")}
    if revision not in known:
        raise InputDataError(
            f"the backup is at revision {revision}, which this code (head {head}) does not know",
            hint="restore it with the dsa110-contimg version that made it, or a newer one",
        )
    return True


def _check_part(src: Path, part: Part) -> Path:
    path = src / part.file
    if not path.is_file():
        raise InputDataError(f"{path} is missing from the backup")
    if path.stat().st_size != part.bytes or _sha256(path) != part.sha256:
        raise InputDataError(
            f"{path} does not match its manifest (size or SHA-256)",
            hint="the backup is damaged or was changed: restore another one",
        )
    if part.backend == "sqlite":
        _sqlite_integrity(path)
        conn = _connect(path, read_only=True)
        try:
            counts, revision = _sqlite_counts(conn), _sqlite_revision(conn)
        finally:
            conn.close()
        if counts != part.counts:
            raise InputDataError(f"{path}: row counts differ from the manifest")
        if part.kind == "products" and revision != part.revision:
            raise InputDataError(f"{path}: revision {revision} differs from the manifest")
    else:
        pg_restore = _program("pg_restore")
        env = dict(os.environ)
        _run([pg_restore, "--list", str(path)], env, "pg_restore --list")
        data = _run(
            [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(path)],
            env,
            "pg_restore",
        ).stdout.splitlines()
        rows = [
            data[i + 1].strip()
            for i, line in enumerate(data[:-1])
            if line.startswith("COPY ") and "alembic_version" in line
        ]
        if rows[:1] != [part.revision]:
            raise InputDataError(f"{path}: revision {rows[:1]} differs from the manifest")
    return path


def verify(src: str | Path) -> tuple[dict[str, Any], bool]:
    """Check backup ``src`` whole; return its manifest and whether it needs ``db upgrade``."""
    src = Path(src)
    manifest = read_manifest(src)
    parts: list[Part] = manifest["parts"]
    products = [p for p in parts if p.kind == "products"]
    if len(products) != 1:
        raise InputDataError(f"{src}: the manifest lists {len(products)} products DBs")
    for part in parts:
        _check_part(src, part)
    return manifest, check_revision(products[0].revision)


# -- restore --------------------------------------------------------------------
def _live(db_url: str) -> bool:
    if _backend(db_url) == "sqlite":
        return _sqlite_holds_tables(_sqlite_file(db_url))
    engine = _engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return bool(_pg_counts(conn))
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot reach the products DB: {exc.orig}") from exc
    finally:
        engine.dispose()


def _restore_sqlite(backup_file: Path, target: Path) -> dict[str, int]:
    """Replace ``target`` by ``backup_file`` atomically; return the copied row counts."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_space(target.parent, backup_file.stat().st_size)
    if not target.exists():
        # stale -wal/-shm of an earlier file would be applied to the new one
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        tmp = partial_path(target)
        try:
            shutil.copyfile(backup_file, tmp)
            _sqlite_integrity(tmp)
            conn = _connect(tmp, read_only=True)
            try:
                counts = _sqlite_counts(conn)
            finally:
                conn.close()
            publish(tmp, target, durable=True)
        except BaseException:
            discard(tmp)
            raise
        return counts
    # one write transaction on the target: other connections see the old DB
    # or the new one, never a mix; WAL files stay consistent. A writer may
    # add rows the moment the copy commits, so the counts that prove the copy
    # are those of what was copied: the backup API copies every page at once.
    src = _connect(backup_file, read_only=True)
    dst = _connect(target)
    try:
        src.backup(dst)
        counts = _sqlite_counts(src)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot restore into {target}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    fsync_path(target)
    try:
        _sqlite_integrity(target)
    except InputDataError as exc:
        raise DatabaseError(f"restored {target} is damaged: {exc}") from exc
    return counts


def _restore_postgres(dump: Path, db_url: str, expected: dict[str, int]) -> dict[str, int]:
    """Rebuild the DB from ``dump`` in one transaction that checks every count."""
    pg_restore, psql = _program("pg_restore"), _program("psql")
    env, database = _pg_env(db_url)
    with tempfile.TemporaryDirectory(prefix="dsa110-restore-") as work:
        script = Path(work) / "restore.sql"
        _run(
            [pg_restore, "--no-owner", "--no-privileges", f"--file={script}", str(dump)],
            env,
            "pg_restore",
        )
        prelude = Path(work) / "prelude.sql"
        prelude.write_text("DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n")
        checks = Path(work) / "checks.sql"
        lines = ["DO $check$ BEGIN"]
        for table, n in expected.items():
            lines.append(
                f"  IF (SELECT count(*) FROM public.{_quote(table)}) <> {int(n)} THEN "
                f"RAISE EXCEPTION 'restored table % holds the wrong number of rows', "
                f"'{table.replace(chr(39), chr(39) * 2)}'; END IF;"
            )
        lines.append("END $check$;")
        checks.write_text("\n".join(lines) + "\n")
        _run(
            [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-d",
                database,
                "-f",
                str(prelude),
                "-f",
                str(script),
                "-f",
                str(checks),
            ],
            env,
            "psql (restore, rolled back)",
        )
    engine = _engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return _pg_counts(conn)
    finally:
        engine.dispose()


def restore(
    db_url: str,
    src: str | Path,
    *,
    catalog_db: str | Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    save_dir: str | Path | None = None,
) -> RestoreReport:
    """Check backup ``src``, then put it back as the products DB (and catalog store).

    Parameters
    ----------
    db_url
        The products DB to replace.
    src
        A folder :func:`backup` wrote.
    catalog_db
        Where to restore the backup's catalog store; None leaves it alone.
    force
        Replace a DB (or catalog store) that holds tables. Without it a live
        target is refused and nothing changes.
    dry_run
        Only check the backup and the targets.
    save_dir
        With ``force``, the replaced products DB is first backed up into a
        new folder ``pre-restore-<UTC time>`` here (None: not saved).

    Raises
    ------
    InputDataError
        The backup is damaged, incomplete, or of a newer schema.
    ProductExistsError
        A target holds tables and ``force`` was not given.
    """
    from dsa110_contimg.products.migrate import head_revision

    src = Path(src)
    manifest, needs_upgrade = verify(src)
    parts = {p.kind: p for p in manifest["parts"]}
    products = parts["products"]
    if products.backend != _backend(db_url):
        raise InputDataError(
            f"{src} holds a {products.backend} DB and the target is {_backend(db_url)}",
            hint="restore into a DB of the same kind",
        )
    report = RestoreReport(src, products.revision, head_revision(), needs_upgrade)
    catalogs = parts.get("catalogs") if catalog_db is not None else None
    live = [mask_url_password(db_url)] if _live(db_url) else []
    if catalogs is not None and _sqlite_holds_tables(Path(catalog_db)):  # type: ignore[arg-type]
        live.append(str(catalog_db))
    if live and not force:
        raise ProductExistsError(
            f"{' and '.join(live)} {'hold' if len(live) > 1 else 'holds'} data; "
            "restoring would replace it",
            hint="stop the daemon and the API, then restore with --force "
            "(the current DB is saved first)",
        )
    if dry_run:
        return report
    if live and save_dir is not None and _live(db_url):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        report.saved_previous = backup(db_url, Path(save_dir) / f"pre-restore-{stamp}").path
    try:
        _replace(report, src, db_url, products, catalogs, catalog_db)
    except OSError as exc:
        raise DSA110Error(f"cannot restore {src}: {exc}") from exc
    return report


def _replace(
    report: RestoreReport,
    src: Path,
    db_url: str,
    products: Part,
    catalogs: Part | None,
    catalog_db: str | Path | None,
) -> None:
    if products.backend == "sqlite":
        report.counts = _restore_sqlite(src / products.file, _sqlite_file(db_url))
    else:
        report.counts = _restore_postgres(src / products.file, db_url, products.counts)
    if report.counts != products.counts:
        raise DatabaseError(f"restored DB's row counts differ from the backup's: {report.counts}")
    report.restored.append("products")
    if catalogs is not None:
        counts = _restore_sqlite(src / catalogs.file, Path(catalog_db))  # type: ignore[arg-type]
        if counts != catalogs.counts:
            raise DatabaseError("restored catalog store's row counts differ from the backup's")
        report.restored.append("catalogs")
