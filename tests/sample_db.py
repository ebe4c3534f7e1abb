"""The analyst tests' database: the text-layer and garbled samples and the real-world PDFs
with a text layer (no OCR), built once per session by `textlayer_db.build_text_samples_db`
(`congvan ingest --no-prefect`, shared with the search and export tests and across xdist
workers). Tests that write get their own copy (`sample_db_copy`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from textlayer_db import TEXT_SAMPLES, build_text_samples_db, writable_copy

CONGVAN = [sys.executable, "-m", "congvan.cli"]


def congvan(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(CONGVAN + list(args), capture_output=True, text=True, cwd=ROOT, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory, worker_id) -> Path:
    if sum("-text" in p.name or "-garbled" in p.name for p in TEXT_SAMPLES) < 10:
        pytest.skip("samples/*-text.pdf and *-garbled.pdf are missing")
    return build_text_samples_db(tmp_path_factory, worker_id)


@pytest.fixture
def sample_db_copy(sample_db, tmp_path) -> Path:
    """A private copy of the sample database, for tests that write."""
    return writable_copy(sample_db, tmp_path)
