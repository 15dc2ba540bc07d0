"""Backups taken while a real writer process commits, restored and checked (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from dsa110_contimg.errors import InputDataError, ProductExistsError
from dsa110_contimg.products import head_revision, make_engine, upgrade
from dsa110_contimg.products.backup import backup, check_revision, restore, verify
from dsa110_contimg.products.migrate import require_current

# Each transaction writes two events of the same sequence number: a backup
# that caught half a transaction, or skipped one, shows as an unpaired or
# missing number.
WRITER = """
import pathlib, sys
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo

url, stop, progress = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
factory = make_session_factory(make_engine(url))
seq = 0
while not stop.exists():
    with session_scope(factory) as session:
        repo.publish_event(session, "backup-test", "a", {"seq": seq})
        repo.publish_event(session, "backup-test", "b", {"seq": seq})
    seq += 1
    if seq % 10 == 0:
        progress.write_text(str(seq))
progress.write_text(str(seq))
"""


class Writer:
    """A separate Python process committing two event rows per transaction until stopped."""

    def __init__(self, url: str, folder: Path) -> None:
        self.stop_file, self.progress = folder / "stop", folder / "progress"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(self.stop_file), str(self.progress)],
            stderr=subprocess.PIPE,
            text=True,
        )

    def committed(self) -> int:
        try:
            return int(self.progress.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.committed() < n:
            assert self.proc.poll() is None, self.proc.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"writer stuck at {self.committed()}"
            time.sleep(0.05)

    def finish(self) -> int:
        self.stop_file.touch()
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err  # no "database is locked", no error at all
        return self.committed()


def _event_seqs(url: str) -> tuple[Counter, Counter]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT kind, payload FROM events WHERE topic = 'backup-test'")
            ).all()
    finally:
        engine.dispose()
    seqs: dict[str, Counter] = {"a": Counter(), "b": Counter()}
    for kind, payload in rows:
        payload = json.loads(payload) if isinstance(payload, str) else payload
        seqs[kind][payload["seq"]] += 1
    return seqs["a"], seqs["b"]


def _catalog(path: Path, n: int = 500) -> None:
    from dsa110_contimg.catalog.readers import CATALOG_DTYPE
    from dsa110_contimg.catalog.store import CatalogStore

    rows = np.zeros(n, dtype=CATALOG_DTYPE)
    rows["ra_deg"] = np.linspace(0, 359, n)
    rows["dec_deg"] = np.linspace(-30, 80, n)
    rows["flux_mjy"] = 10.0
    with CatalogStore(path) as store:
        store.import_rows("TEST", rows)


def _fresh_target(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty DB of the same kind as ``db_url`` to restore into."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'products.sqlite3'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def test_backup_during_writes_then_restore(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    upgrade(db_url)
    catalogs = tmp_path / "catalogs.sqlite3"
    _catalog(catalogs)
    writer = Writer(db_url, tmp_path)
    try:
        writer.wait_for(50)
        before = writer.committed()
        report = backup(db_url, tmp_path / "backup", catalog_db=catalogs)
        writer.wait_for(before + 100)  # the writer went on through and after the backup
    finally:
        total = writer.finish()
    products = report.parts[0]
    in_backup = products.counts["events"] // 2
    assert products.counts["events"] % 2 == 0
    assert before <= in_backup < total
    assert products.revision == head_revision()
    assert report.parts[1].counts["sources"] == 500

    manifest, needs_upgrade = verify(tmp_path / "backup")
    assert not needs_upgrade

    # restore into an empty DB: no --force needed; the copy is the snapshot, whole
    target = _fresh_target(db_url, tmp_path, request)
    result = restore(target, tmp_path / "backup", catalog_db=tmp_path / "c2.sqlite3")
    assert result.restored == ["products", "catalogs"]
    assert result.counts == products.counts
    require_current(target)
    a, b = _event_seqs(target)
    assert a == b == Counter(range(in_backup))  # every transaction whole, none missing
    if target.startswith("sqlite"):
        path = Path(sa.engine.make_url(target).database)
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with sqlite3.connect(tmp_path / "c2.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM sources").fetchone() == (500,)

    # the live original: refused without force, unchanged
    with pytest.raises(ProductExistsError):
        restore(db_url, tmp_path / "backup")
    assert sum(_event_seqs(db_url)[0].values()) == total
    # with force: saved first, then replaced by the snapshot
    result = restore(db_url, tmp_path / "backup", force=True, save_dir=tmp_path / "saved")
    assert result.saved_previous is not None
    saved = json.loads((result.saved_previous / "manifest.json").read_text())
    assert saved["parts"][0]["counts"]["events"] == 2 * total
    a, b = _event_seqs(db_url)
    assert a == b == Counter(range(in_backup))
    require_current(db_url)


def test_restore_over_a_db_in_use_by_a_writer_sqlite(tmp_path: Path) -> None:
    """--force while another process writes: the target is one DB or the other, never a mix."""
    url = f"sqlite:///{tmp_path / 'products.sqlite3'}"
    upgrade(url)
    backup(url, tmp_path / "empty")
    writer = Writer(url, tmp_path)
    try:
        writer.wait_for(30)
        restore(url, tmp_path / "empty", force=True)
        n = writer.committed()
        writer.wait_for(n + 30)  # it still writes, into the restored DB
    finally:
        writer.finish()
    with sqlite3.connect(tmp_path / "products.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    a, b = _event_seqs(url)
    assert a == b  # every transaction whole
    assert max(a) >= 30 and min(a) > 0  # only what came after the restore


def test_damaged_backup_is_refused_and_the_target_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'products.sqlite3'}"
    upgrade(url)
    backup(url, tmp_path / "b")
    data = tmp_path / "b" / "products.sqlite3"
    raw = bytearray(data.read_bytes())
    raw[5000] ^= 0xFF
    data.write_bytes(bytes(raw))
    target = tmp_path / "t" / "products.sqlite3"
    with pytest.raises(InputDataError, match="does not match its manifest"):
        restore(f"sqlite:///{target}", tmp_path / "b")
    assert not target.exists()
    with pytest.raises(InputDataError, match="not a backup"):
        restore(f"sqlite:///{target}", tmp_path)


def test_revisions() -> None:
    head = head_revision()
    assert check_revision(head) is False
    assert check_revision("0001") is True
    with pytest.raises(InputDataError, match="does not know"):
        check_revision("ffff")
    with pytest.raises(InputDataError, match="not a products DB"):
        check_revision(None)


def _dsa110(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DSA110_DATA_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "dsa110_contimg.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_backup_and_restore_of_an_older_schema(tmp_path: Path) -> None:
    old = tmp_path / "old"
    assert _dsa110("db", "upgrade", "--revision", "0002", root=old).returncode == 0
    done = _dsa110("db", "backup", str(tmp_path / "bk"), root=old)
    assert done.returncode == 0, done.stderr
    assert "revision 0002" in done.stdout
    again = _dsa110("db", "backup", str(tmp_path / "bk"), root=old)
    assert again.returncode == 7 and "exists" in again.stderr

    new = tmp_path / "new"
    done = _dsa110("db", "restore", str(tmp_path / "bk"), root=new)
    assert done.returncode == 0, done.stderr
    assert "run `dsa110 db upgrade`" in done.stdout
    refused = _dsa110("db", "restore", str(tmp_path / "bk"), root=new)
    assert refused.returncode == 7 and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _dsa110("db", "upgrade", root=new).returncode == 0
    forced = _dsa110("db", "restore", "--force", str(tmp_path / "bk"), root=new)
    assert forced.returncode == 0, forced.stderr
    assert "saved in" in forced.stdout
