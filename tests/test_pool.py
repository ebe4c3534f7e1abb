"""Extraction in worker processes: same records and errors as in-process, and a file that kills
its reader is quarantined alone while the rest of the run goes on."""
from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest

from congvan.flows.ingest import ingest
from congvan.pipeline import pool
from congvan.pipeline.errors import CongvanError, CorruptInput
from congvan.pipeline.run import extract_file
from conftest import assert_nothing_lost, data_settings, dispatch, make_pdf


def crash_on_crasher(path: str, settings):
    """Runs in the worker: a reader that dies like a native crash on files named *crasher*
    (not "bad": the claimed name carries a random hex id, and "baabada8" was one)."""
    if "crasher" in Path(path).name:
        os.kill(os.getpid(), signal.SIGSEGV)
    return extract_file(Path(path), settings)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickling re-creates it with one argument: TypeError
        super().__init__(f"{a}/{b}")


def test_pooled_record_equals_in_process(tmp_path):
    s = data_settings(tmp_path, workers=2)
    f = make_pdf(tmp_path / "kh.pdf", dispatch(12))
    here = extract_file(f, s)
    there = pool.extract(f, s)
    assert there.model_dump(mode="json") == here.model_dump(mode="json")
    assert there.number.startswith("12/")


def test_errors_keep_their_class_and_stage(tmp_path):
    s = data_settings(tmp_path, workers=2)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(CorruptInput) as info:
        pool.extract(empty, s)
    assert info.value.stage == "open"


def test_unpicklable_errors_arrive_named():
    out = pool._portable(Unpicklable("x", "y"))
    assert isinstance(out, CongvanError) and "Unpicklable: x/y" in str(out)
    same = CorruptInput("broken", stage="open")
    assert pool._portable(same) is same


def test_a_file_that_kills_its_reader_is_quarantined_and_the_rest_archived(tmp_path):
    s = data_settings(tmp_path, workers=2, settle_seconds=0.0)
    shas = {}
    for name, n in (("good-1.pdf", 1), ("crasher.pdf", 2), ("good-3.pdf", 3)):
        p = make_pdf(s.inbox / name, dispatch(n, day=n))
        import hashlib

        shas[hashlib.sha256(p.read_bytes()).hexdigest()] = name
    summary = ingest(None, s, progress=False, extract=partial(pool.extract, fn=crash_on_crasher))
    assert summary["quarantined"] == 1 and summary["inserted"] + summary.get("copies", 0) == 2
    reason = next(s.quarantine.rglob("crasher.pdf.reason.json")).read_text()
    assert "crashed the reader process" in reason and "SIGSEGV" in reason
    assert_nothing_lost(s, shas, case="a file that kills its reader process (SIGSEGV)",
                        outcome="quarantined: extract (crashed the reader process); others archived")
    # The pool was replaced: the next file is read by a working worker.
    assert pool.extract(make_pdf(tmp_path / "after.pdf", dispatch(4)), s).number.startswith("4/")


def test_ingest_uses_processes_for_several_files(tmp_path, monkeypatch):
    s = data_settings(tmp_path, workers=2, settle_seconds=0.0)
    for n in (5, 6):
        make_pdf(s.inbox / f"kh-{n}.pdf", dispatch(n, day=n))
    used = []
    real = pool.extract
    monkeypatch.setattr(pool, "extract", lambda p, st: used.append(p) or real(p, st))
    summary = ingest(None, s, progress=False)
    assert summary["inserted"] == 2 and len(used) == 2
    monkeypatch.setenv("CONGVAN_PROCESSES", "0")
    assert not pool.wanted(s, 2)
