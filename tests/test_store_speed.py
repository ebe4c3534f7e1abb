"""The store's fast paths write what the slow ones would, and holding the writer connection across
a run still lets other processes in (issue 6: saving was the bottleneck of text-layer ingestion)."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import duckdb
import pytest

from congvan.flows import ingest as ing
from congvan.pipeline import store as store_mod
from congvan.pipeline.store import Store, document_id
from conftest import data_settings
from test_store_fixtures import key_of, make_record


@pytest.fixture
def db(tmp_path):
    return tmp_path / "congvan.duckdb"


@pytest.fixture
def settings(tmp_path):
    return data_settings(tmp_path, settle_seconds=0.0, workers=2)


def derived(store: Store) -> dict:
    """The derived tables by value (xref node numbers depend on the order they were made in)."""
    q = lambda sql: sorted(store.query(sql)[1])  # noqa: E731
    return {
        "copies": q("SELECT id, copy_of FROM documents"),
        "xref_docs": q("SELECT d.id, n.key FROM xref_docs d JOIN xref_nodes n ON n.n = d.n"),
        "xref_edges": q("SELECT e.document_id, s.key, t.key FROM xref_edges e JOIN xref_nodes s ON s.n = e.src "
                        "JOIN xref_nodes t ON t.n = e.dst"),
        "bodies": q("SELECT * FROM bodies"),
        "body_names": q("SELECT * FROM body_names"),
        "body_aliases": q("SELECT * FROM body_aliases"),
    }


def rebuilt(db) -> dict:
    """The same tables rebuilt whole from the stored records, views and corrections."""
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = 'stale' WHERE key IN ('bodies_version', 'xref_version')")
    con.close()
    with Store(db) as store:
        return derived(store)


def _ref(number: str, doc_type: str, issuer: str = "Ủy ban nhân dân tỉnh Điện Biên") -> dict:
    return {"raw": f"văn bản số {number}", "doc_type": doc_type, "number": number, "key": key_of(number, doc_type),
            "date": None, "issuer": issuer, "citation": "can_cu", "prov": None}


def _a_run_of_saves(store: Store) -> None:
    """Inserts, re-scans (numbered and blank), citations both ways, a correction before a re-scan
    and a citation arrive, a re-extraction (replace) of a corrected dispatch, a duplicate."""
    lai_chau = {"name": "UBND tỉnh Lai Châu", "level": "tỉnh", "locality": "Lai Châu", "parent": None}
    saves = [
        make_record("a"),
        make_record("a-rescan", text="bản quét lại"),
        make_record("b", number="7/KH-UBND", references=[_ref("1023/KH-UBND", "KH")]),
        make_record("c", number=None, issuer=lai_chau, symbol="UBND-TH", doc_type="CV",
                    tasks=[{"text": "Báo cáo", "assignee": "Sở NV", "coordinators": [], "deadline": None}]),
        make_record("c-rescan", number=None, issuer=lai_chau, symbol="UBND-TH", doc_type="CV"),
        make_record("d", number="8/KH-UBND", references=[_ref("7/KH-UBND", "KH"), _ref("679/UBND-TH", "CV")]),
    ]
    for r in saves:
        store.save(r)
    b = document_id(saves[2].source.sha256)
    store.correct(b, "number", "77/KH-UBND")        # a header correction: the next saves take the slow paths
    store.correct(b, "references.0.key", "KH:999:UBND")
    store.save(make_record("b-rescan", number="77/KH-UBND", references=[_ref("1023/KH-UBND", "KH")]))
    store.save(make_record("e", number="9/KH-UBND", references=[_ref("77/KH-UBND", "KH")]))
    store.save(make_record("b", number="7/KH-UBND", references=[_ref("1023/KH-UBND", "KH"), _ref("8/KH-UBND", "KH")],
                           pipeline_version="newer"), replace=True)
    store.save(make_record("d"))  # same bytes: a duplicate


@pytest.mark.parametrize("held", [True, False], ids=["held", "one-open-per-save"])
def test_saves_leave_the_derived_tables_as_a_rebuild_would(db, held):
    with Store(db) as store:
        if held:
            with store.holding():
                _a_run_of_saves(store)
        else:
            _a_run_of_saves(store)
        got = derived(store)
        _, copies = store.query("SELECT id, copy_of IS NOT NULL FROM documents ORDER BY ingested_at, id")
    assert sum(c for _, c in copies) == 3  # a-rescan, c-rescan and b-rescan (by its corrected number)
    assert got["xref_edges"] and got["body_names"]
    assert got == rebuilt(db)


def test_registry_rows_of_a_rolled_back_save_are_written_by_the_next(db, monkeypatch):
    """Rows a held connection remembers are those committed: a save that fails after registering
    its bodies is rolled back, and the next save with the same bodies writes them."""
    with Store(db) as store, store.holding():
        real = store_mod._refresh_xref_one

        def boom(*a, **kw):
            raise RuntimeError("disk full")
        monkeypatch.setattr(store_mod, "_refresh_xref_one", boom)
        with pytest.raises(RuntimeError):
            store.save(make_record("a"))
        monkeypatch.setattr(store_mod, "_refresh_xref_one", real)
        assert store.query("SELECT count(*) FROM body_names")[1] == [(0,)]
        store.save(make_record("b"))
        assert store.query("SELECT count(*) FROM documents")[1] == [(1,)]
        _, rows = store.query("SELECT issuer_body FROM v_documents")
        assert rows == [("Ủy ban nhân dân tỉnh Điện Biên",)]


def test_other_writes_on_a_held_connection_are_not_skipped_over(db):
    """SQL through the store, corrections and an index rebuild between saves: the saves after them
    write the registry rows and the stale search flag again."""
    with Store(db) as store, store.holding():
        store.save(make_record("a"))
        store.query("DELETE FROM body_names")
        store.save(make_record("b", number="2/KH-UBND"))
        assert store.query("SELECT count(*) FROM v_documents WHERE issuer_body IS NULL")[1] == [(0,)]
        store.refresh_index()
        assert store.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("false",)]
        store.save(make_record("c", number="3/KH-UBND"))
        assert store.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("true",)]


def test_views_are_made_again_when_missing_or_changed(db):
    Store(db).close()
    con = duckdb.connect(str(db))
    con.execute("DROP VIEW v_tasks")
    con.close()
    Store(db).close()  # same views.sql, a view missing: made again
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'v_tasks'").fetchone() == (1,)
    con.execute("CREATE OR REPLACE VIEW v_tasks AS SELECT 1 AS x")
    con.execute("UPDATE meta SET value = 'older' WHERE key = 'views_hash'")  # views.sql changed
    con.close()
    with Store(db) as store:
        assert "task_id" in store.query("SELECT * FROM v_tasks LIMIT 0")[0]


HOLD_AND_KNOCK = """
import sys, time
from congvan.pipeline.store import Store
st = Store(sys.argv[1], read_only=True, wait_seconds=float(sys.argv[2]))
print(st.query("SELECT count(*) FROM documents")[1][0][0], flush=True)
"""


def test_a_waiting_process_knocks_and_the_holder_sees_it(db):
    with Store(db) as store:
        assert store.hold() and not store.hold() and not store.knocked()
        p = subprocess.run([sys.executable, "-c", HOLD_AND_KNOCK, str(db), "0.3"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0 and "DatabaseBusy" in p.stderr
        assert store.knocked()
        store.release()
        assert store.held_for() is None and not store.knocked()
        store.hold()
        assert not store.knocked()  # knocks before this hold were answered by letting go
        store.release()


def test_ingestion_holds_its_connection_across_saves_and_lets_a_reader_in(db, monkeypatch, settings):
    """Saves keep coming (as in a text-layer run): one connection for all of them, however long,
    and a `congvan sql` in another process still gets in (it knocks; the run lets go)."""
    monkeypatch.setattr(ing, "HOLD_MAX", 600.0)
    opened = []
    real = Store._connect
    monkeypatch.setattr(Store, "_connect", lambda self, **kw: opened.append(kw) or real(self, **kw))
    settings.db = db
    ctx = ing.RunContext(settings=settings, extract=None, open_store=lambda s: Store(db, wait_seconds=20))
    stop = threading.Event()
    saved = []

    def writer(start: int):
        i = start
        while not stop.is_set():
            saved.append(ing._with_store(ctx, lambda st, i=i: st.save(make_record(f"r{i}", number=f"{i}/KH-UBND"))))
            i += 2
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    def saves_reach(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(saved) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    try:
        saves_reach(5)
        reader = subprocess.Popen([sys.executable, "-c", HOLD_AND_KNOCK, str(db), "20"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        out, err = reader.communicate(timeout=120)
        during = len(saved)
        saves_reach(during + 5)  # and the run goes on writing afterwards
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        ing._close_store(ctx)
    assert reader.returncode == 0, err[-2000:]
    assert int(out.split()[0]) >= 5
    assert all(r.status == "inserted" for r in saved) and len(saved) >= during + 5
    # the schema open, the run's hold, and a reopen after letting the reader in (two if it was slow to come)
    assert len(opened) <= 5 and len(opened) < len(saved) / 3, (len(opened), len(saved))
    with Store(db, read_only=True) as ro:
        assert ro.query("SELECT count(*) FROM documents")[1] == [(len(saved),)]


class FakeStore:
    """Just the holding interface, counting opens."""

    def __init__(self):
        self.opens = 0
        self.since = None
        self.knock = False

    def hold(self, threads=None):
        if self.since is not None:
            return False
        self.opens += 1
        self.since = time.monotonic()
        self.knock = False
        return True

    def release(self):
        self.since = None

    def knocked(self):
        return self.since is not None and self.knock

    def held_for(self):
        return None if self.since is None else time.monotonic() - self.since


def test_the_run_lets_go_when_idle_when_held_long_and_when_knocked(monkeypatch, settings):
    monkeypatch.setattr(ing, "HOLD_LINGER", 0.2)
    monkeypatch.setattr(ing, "HOLD_MAX", 1.0)
    monkeypatch.setattr(ing, "KNOCK_GAP", 0.3)
    fake = FakeStore()
    ctx = ing.RunContext(settings=settings, extract=None, open_store=lambda s: fake)
    try:
        for _ in range(5):  # back to back: one open
            assert ing._with_store(ctx, lambda st: st.held_for() is not None)
        assert fake.opens == 1
        time.sleep(0.5)  # idle past the linger: let go
        assert fake.held_for() is None
        ing._with_store(ctx, lambda st: None)
        assert fake.opens == 2
        t_end = time.monotonic() + 1.6  # busy past HOLD_MAX: let go once, then held again
        while time.monotonic() < t_end:
            ing._with_store(ctx, lambda st: None)
            time.sleep(0.05)
        assert fake.opens == 3
        fake.knock = True  # another process asks: let go now, and stay away KNOCK_GAP seconds
        time.sleep(0.15)
        assert fake.held_for() is None
        t0 = time.monotonic()
        ing._with_store(ctx, lambda st: None)
        assert fake.opens == 4 and time.monotonic() - t0 >= 0.1
        with pytest.raises(ValueError):
            ing._with_store(ctx, lambda st: (_ for _ in ()).throw(ValueError("bad record")))
        assert fake.held_for() is None  # a failed operation: the next one opens afresh
    finally:
        ing._close_store(ctx)
    assert fake.held_for() is None
