"""A database of the text-layer samples (born-digital and garbled-layer PDFs, and the real-world PDFs
that ../shared/realworld/README.md lists as born-digital: no OCR anywhere), built once per
test session with the real command (`congvan ingest --no-prefect`) for the search and export tests,
shared across xdist workers through a file lock. Treat it as read-only: `writable_copy` it to write."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REALWORLD, ROOT, SAMPLES

# ../shared/realworld/README.md: "text layer (born-digital, e-signed)"; the other five are scans.
REALWORLD_TEXT = ["bao_cao_snv.pdf", "cong_dien_moi_hop.pdf", "cv_bnv_huong_dan.pdf", "quyet_dinh_ubnd.pdf",
                  "to_trinh_snv.pdf"]
TEXT_SAMPLES = (sorted(SAMPLES.glob("*-text.pdf")) + sorted(SAMPLES.glob("*-garbled.pdf"))
                + [REALWORLD / n for n in REALWORLD_TEXT if (REALWORLD / n).is_file()])
CONGVAN = [sys.executable, "-m", "congvan.cli"]


def build_text_samples_db(tmp_path_factory, worker_id: str) -> Path:
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    db = root / "textlayer-samples.duckdb"
    done = root / "textlayer-samples.done"
    with FileLock(str(root / "textlayer-samples.lock")):
        if not done.exists():
            assert TEXT_SAMPLES, f"no text-layer samples in {SAMPLES}"
            db.unlink(missing_ok=True)
            proc = subprocess.run(CONGVAN + ["ingest", *map(str, TEXT_SAMPLES), "--db", str(db), "--no-prefect"],
                                  capture_output=True, text=True, cwd=ROOT, timeout=900)
            (root / "textlayer-samples.log").write_text(proc.stdout + proc.stderr)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            done.write_text("ok")
    return db


def writable_copy(db: Path, dest: Path) -> Path:
    """A private copy of the shared database (with its WAL, if any) for tests that write."""
    out = dest / db.name
    shutil.copy2(db, out)
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        shutil.copy2(wal, out.with_name(out.name + ".wal"))
    return out
