"""`make bench`: how close the pipeline runs to the OCR bound, and what everything else costs.

One run measures, on this machine's cores:

* text-layer PDFs, pages/s end to end (`ingest` of born-digital files in place into a fresh
  database: acquire → extractors → store), and acquisition + extraction alone;
* scanned pages/s end to end against the raw bound: the `tesseract` CLI itself on the very page
  images the pipeline renders (same dpi, same language and psm, one thread each, as many at once
  as the pipeline's workers); the ratio is the pipeline's overhead (target ≥ 0.9);
* parallel efficiency: the same scanned set with 1 worker and with N;
* the OCR cache: the same scanned set again into a fresh database, with the page cache warm;
* re-checking an unchanged inbox of 1,000 files: `inbox.ready_files`, sha256 of each, and the
  "already held?" lookup, per file as the flow asks it and in one batched query;
* DuckDB: bulk load of a synthetic 100,000-document database into the schema as it is
  (`schemas/*.sql` through `Store`), `Store.save` rate on real records, and cross-reference query
  latency (`citing(key)`, direct citations of a document, unresolved references);
* peak memory: the sum over this process, the extraction workers and their tesseracts, sampled
  from /proc (procmem.py), beside getrusage's figures for this process and its largest child.

The long steps are single timed runs, not repeated rounds: an OCR pass takes minutes, and on a
shared machine the spread between runs is larger than any statistic would show. When `hyperfine`
is installed (`make bench` installs it as root) the raw tesseract bound is timed by hyperfine.
`--quick` runs a small set (a minute or two) to check the harness. Results: a Rich table on the
terminal and JSON in `benchmarks/results/bench.json`.

Run: `python -m benchmarks.bench [--quick] [--workers N] [--out FILE]`.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/bench.py` as well as `-m benchmarks.bench`
    sys.path.insert(0, str(ROOT))

from benchmarks.procmem import PeakTreeMemory  # noqa: E402 - needs ROOT on sys.path

RESULTS = ROOT / "benchmarks" / "results" / "bench.json"
SAMPLES = ROOT / "samples"

TARGETS = {
    "text_pages_per_s": (">=", 20.0),
    "scan_ratio_to_tesseract": (">=", 0.9),
    "recheck_1000_s": ("<=", 2.0),
    "xref_query_ms": ("<=", 100.0),
    "peak_memory_mb": ("<=", 1536.0),
}


# ---------------------------------------------------------------- helpers

def _now() -> float:
    return time.perf_counter()


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its waited-for children (tesseract runs
    as a child of pytesseract, xargs or hyperfine): on a shared machine wall time follows the load,
    CPU time follows the work."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _engine_version() -> str:
    from congvan.pipeline.ocr import engine_version

    return engine_version()


def _maxrss_mb(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024.0, 1)  # Linux: KiB


def _settings(tmp: Path, workers: int, cache: str = "off", **kw):
    from congvan.config import Settings

    d = tmp / f"data-{time.monotonic_ns()}"
    s = Settings(db=d / "congvan.duckdb", inbox=d / "inbox", archive=d / "archive", quarantine=d / "quarantine",
                 processing=d / "processing", workers=workers, ocr_cache=cache, settle_seconds=0.0)
    return replace(s, **kw)


def _unique_copy(src: Path, dest: Path, tag: str) -> Path:
    """Same content, different bytes (a comment after %%EOF): a different sha256, so nothing
    is skipped as a duplicate."""
    data = src.read_bytes()
    dest.write_bytes(data + f"\n% congvan-bench {tag}\n".encode() if src.suffix.lower() == ".pdf" else data)
    return dest


def _pages_of(path: Path) -> int:
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(path))
        try:
            return len(doc)
        finally:
            doc.close()
    from PIL import Image

    with Image.open(path) as im:
        return getattr(im, "n_frames", 1)


def _ingest(paths: list[Path], settings) -> dict:
    from congvan.flows.ingest import ingest

    return dict(ingest([str(p) for p in paths], settings, progress=False))


# ---------------------------------------------------------------- text layer

def bench_text(tmp: Path, workers: int, copies: int, with_prefect: bool = True) -> dict:
    from congvan.pipeline.run import extract_file

    files = sorted(SAMPLES.glob("*-text.pdf"))
    folder = tmp / "text"
    folder.mkdir()
    batch = [_unique_copy(f, folder / f"{f.stem}-{k}.pdf", f"text-{k}") for k in range(copies) for f in files]
    pages = sum(_pages_of(p) for p in batch)
    s = _settings(tmp, workers)
    extract_file(batch[0], s)  # warm-up: imports, rule tables, NLP models load once per process

    t0 = _now()
    records = [extract_file(p, s) for p in batch]
    extract_s = _now() - t0

    s = _settings(tmp, workers)
    t0 = _now()
    summary = _ingest(batch, s)
    ingest_s = _now() - t0
    out = {
        "files": len(batch), "pages": pages,
        "extract_seconds": round(extract_s, 2), "extract_pages_per_s": round(pages / extract_s, 1),
        "ingest_seconds": round(ingest_s, 2), "pages_per_s": round(pages / ingest_s, 1),
        "ingest_inserted": summary.get("inserted", 0) + summary.get("copies", 0),
        "ingest_errors": summary.get("errors", 0) + summary.get("quarantined", 0),
        "_records": records,
    }
    # As a user times it: the command, from a cold Python to the last commit, into a fresh database.
    cli_s = _cli_ingest(folder, tmp / f"cli-{time.monotonic_ns()}", workers)
    out.update(cli_seconds=round(cli_s, 2), cli_pages_per_s=round(pages / cli_s, 1))
    if with_prefect:
        # The same as a Prefect flow without a server: Prefect's temporary server starts for the run
        # (its SQLite migrated once beforehand, as on any run after a machine's first).
        home = tmp / "prefect-home"
        _cli_ingest(batch[0], tmp / f"cli-{time.monotonic_ns()}", workers, "--prefect", PREFECT_HOME=str(home))
        pf_s = _cli_ingest(folder, tmp / f"cli-{time.monotonic_ns()}", workers, "--prefect", PREFECT_HOME=str(home))
        out.update(prefect_cli_seconds=round(pf_s, 2), prefect_cli_pages_per_s=round(pages / pf_s, 1))
    return out


def _cli_ingest(target: Path, data: Path, workers: int, *flags: str, **env: str) -> float:
    """Wall seconds of `congvan ingest TARGET --db DATA/congvan.duckdb` in a fresh process."""
    exe = Path(sys.executable).with_name("congvan")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from congvan.cli import app; app()"]
    run_env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    run_env.update(CONGVAN_WORKERS=str(workers), **env)
    t0 = _now()
    subprocess.run(cmd + ["ingest", str(target), "--db", str(data / "congvan.duckdb"), *flags], env=run_env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=data.parent)
    return _now() - t0


# ---------------------------------------------------------------- scanned pages and the raw bound

def _scan_files(quick: bool) -> list[Path]:
    if quick:
        return [p for p in (SAMPLES / "000-scan.pdf", SAMPLES / "002-scan-p1.png") if p.exists()]
    return sorted(SAMPLES.glob("*-scan.pdf")) + sorted(SAMPLES.glob("*-harsh.pdf")) + \
        sorted(SAMPLES.glob("*-scan*.png")) + sorted(SAMPLES.glob("*-scan*.tif*"))


def render_pages(files: list[Path], dpi: int, out: Path) -> list[Path]:
    """The page images the pipeline OCRs, as PNG: PDFs rendered by pypdfium2 at `dpi` exactly as
    acquire() renders them, image files decoded frame by frame."""
    import pypdfium2 as pdfium
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    pngs = []
    stems: set[str] = set()
    for f in files:
        # 003-scan.pdf and 003-scan.tiff share a stem: the second must not overwrite the first's pages.
        stem = f.stem if f.stem not in stems else f"{f.stem}-{f.suffix.lstrip('.').lower()}"
        stems.add(stem)
        if f.suffix.lower() == ".pdf":
            doc = pdfium.PdfDocument(str(f))
            try:
                for i in range(len(doc)):
                    p = out / f"{stem}-p{i + 1}.png"
                    doc[i].render(scale=dpi / 72.0).to_pil().save(p)
                    pngs.append(p)
            finally:
                doc.close()
        else:
            with Image.open(f) as im:
                for i in range(getattr(im, "n_frames", 1)):
                    im.seek(i)
                    p = out / f"{stem}-p{i + 1}.png"
                    im.convert("RGB").save(p)
                    pngs.append(p)
    return pngs


def raw_tesseract(pngs: list[Path], workers: int, lang: str, psm: int, runs: int = 1) -> dict:
    """`tesseract PNG - -l LANG --psm PSM`, one thread each, `workers` at once (xargs -P)."""
    listing = pngs[0].parent / "pages.txt"
    listing.write_text("".join(f"{p}\n" for p in pngs))
    cmd = ["xargs", "-P", str(workers), "-a", str(listing), "-I{}", "tesseract", "{}", "-", "-l", lang, "--psm", str(psm)]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    c0 = _cpu()
    if shutil.which("hyperfine"):
        out = listing.with_suffix(".hyperfine.json")
        subprocess.run(["hyperfine", "-N", "--runs", str(runs), "--export-json", str(out), "--style", "none",
                        " ".join(cmd)], env=env, check=True, stdout=subprocess.DEVNULL)
        r = json.loads(out.read_text())["results"][0]
        return {"seconds": round(r["mean"], 2), "stddev": round(r.get("stddev") or 0.0, 2), "runs": runs,
                "timer": "hyperfine", "cpu_seconds": round((_cpu() - c0) / runs, 2)}
    t0 = _now()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"seconds": round(_now() - t0, 2), "runs": 1, "timer": "perf_counter", "cpu_seconds": round(_cpu() - c0, 2)}


def _pipeline_scans(files: list[Path], tmp: Path, workers: int, cache: str) -> tuple[float, dict, float]:
    """(wall seconds, ingest summary, CPU seconds of this process and its tesseract children)."""
    folder = tmp / f"scans-{time.monotonic_ns()}"
    folder.mkdir()
    batch = [_unique_copy(f, folder / f.name, "scan") for f in files]
    s = _settings(tmp, workers, cache=cache)
    c0 = _cpu()
    t0 = _now()
    summary = _ingest(batch, s)
    wall = _now() - t0
    try:  # extraction worker processes count in RUSAGE_CHILDREN only once they have exited and been reaped
        from congvan.pipeline import pool

        pool.shutdown()
    except ImportError:
        pass
    return wall, summary, _cpu() - c0


def _acquire_scans(files: list[Path], tmp: Path, workers: int) -> tuple[float, float]:
    """Acquisition alone (render, preprocess, OCR, post-correction; no extractors, no store),
    files side by side as ingest runs them: (wall seconds, CPU seconds)."""
    from concurrent.futures import ThreadPoolExecutor

    from congvan.pipeline.acquire import acquire

    s = _settings(tmp, workers)
    c0 = _cpu()
    t0 = _now()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        list(ex.map(lambda f: acquire(f, s), files))
    return _now() - t0, _cpu() - c0


def bench_scans(tmp: Path, workers: int, quick: bool) -> dict:
    from congvan.config import Settings
    from congvan.pipeline.ocr import DEFAULT_PSM

    files = _scan_files(quick)
    base = Settings()
    pngs = render_pages(files, base.ocr_dpi, tmp / "pages")
    pages = len(pngs)
    # Raw before and after the pipeline run, averaged: on a shared machine the load drifts.
    raw_a = raw_tesseract(pngs, workers, base.ocr_lang, DEFAULT_PSM)
    cache_dir = tmp / "ocr-cache"
    # cold cache: every page OCR'd
    tn, summary, cn = _pipeline_scans(files, tmp, workers, cache=str(cache_dir))
    raw_b = raw_tesseract(pngs, workers, base.ocr_lang, DEFAULT_PSM)
    raw = dict(raw_a, seconds=round((raw_a["seconds"] + raw_b["seconds"]) / 2, 2),
               cpu_seconds=round((raw_a["cpu_seconds"] + raw_b["cpu_seconds"]) / 2, 2))
    ta, ca = _acquire_scans(files, tmp, workers)
    raw1 = raw_tesseract(pngs, 1, base.ocr_lang, DEFAULT_PSM)
    t1, _, _ = _pipeline_scans(files, tmp, 1, cache="off")
    tw, warm, cw = _pipeline_scans(files, tmp, workers, cache=str(cache_dir))  # same pages again: all from cache
    out = {
        "files": len(files), "pages": pages, "dpi": base.ocr_dpi, "lang": base.ocr_lang, "psm": DEFAULT_PSM,
        "workers": workers,
        "raw_seconds": raw["seconds"], "raw_seconds_before_after": [raw_a["seconds"], raw_b["seconds"]],
        "raw_timer": raw["timer"], "raw_pages_per_s": round(pages / raw["seconds"], 3),
        "pipeline_seconds": round(tn, 2), "pages_per_s": round(pages / tn, 3),
        "ratio_to_tesseract": round(raw["seconds"] / tn, 3),
        "pipeline_errors": summary.get("errors", 0),
        "acquire_seconds": round(ta, 2), "acquire_ratio_to_tesseract": round(raw["seconds"] / ta, 3),
        # The same ratios in CPU seconds (user + system, tesseract children included): the work done,
        # whatever the machine's load did to the wall clock.
        "raw_cpu_seconds": raw["cpu_seconds"], "pipeline_cpu_seconds": round(cn, 2),
        "cpu_ratio_to_tesseract": round(raw["cpu_seconds"] / cn, 3),
        "acquire_cpu_seconds": round(ca, 2), "acquire_cpu_ratio_to_tesseract": round(raw["cpu_seconds"] / ca, 3),
        "warm_cache_cpu_seconds": round(cw, 2),
        "raw_1_worker_seconds": raw1["seconds"],
        "pipeline_1_worker_seconds": round(t1, 2),
        "parallel_efficiency": round((t1 / tn) / workers, 3),
        "raw_parallel_efficiency": round((raw1["seconds"] / raw["seconds"]) / workers, 3),
        "warm_cache_seconds": round(tw, 2), "warm_cache_pages_per_s": round(pages / tw, 2),
        "warm_cache_speedup": round(tn / tw, 1),
    }
    return out


def bench_scan_pages(tmp: Path, quick: bool) -> dict:
    """Per page, back to back on one core: the raw `tesseract` CLI on the rendered PNG, then the
    pipeline's own work on the same image (`ocr_image`, then acquire's `_ocr_page`: ruled tables,
    post-correction), in CPU seconds by stage. Pairing each page's two runs keeps the comparison fair
    on a loaded machine, where CPU seconds of a whole run drift with the load (cache and memory
    contention) by more than the gap being measured. Rendering and extraction are not in it (see
    `scans` for the end-to-end figures)."""
    from PIL import Image

    from congvan.config import Settings
    from congvan.pipeline import acquire as acq
    from congvan.pipeline import ocr, ocr_tables
    from congvan.pipeline.ocr import DEFAULT_PSM

    base = Settings()
    pngs = render_pages(_scan_files(quick), base.ocr_dpi, tmp / "pages-paired")
    calls: list[tuple[str, str, float]] = []

    def timed(fn, kind):
        def wrapper(*a, **kw):
            c0 = _cpu()
            try:
                return fn(*a, **kw)
            finally:
                calls.append((kind, str(a[1]) if len(a) > 1 else "", _cpu() - c0))
        return wrapper

    inner_words, inner_cells = ocr.tesseract_words, ocr_tables._tesseract_chars
    ocr.tesseract_words = timed(inner_words, "words")
    ocr_tables._tesseract_chars = timed(inner_cells, "cells")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    rows = []
    from congvan.pipeline.postcorrect import postcorrect

    postcorrect("Ủy ban nhân dân tỉnh")  # the LM loads once per process: not the first page's cost
    try:
        for p in pngs:
            with Image.open(p) as im:
                img = im.convert("RGB")
            c0 = _cpu()
            subprocess.run(["tesseract", str(p), "-", "-l", base.ocr_lang, "--psm", str(DEFAULT_PSM)], env=env,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            raw = _cpu() - c0
            calls.clear()
            c0 = _cpu()
            res = ocr.ocr_image(img, base.ocr_lang, timeout=base.ocr_timeout)
            c1 = _cpu()
            acq._ocr_page(1, res, "bench", "", img=img)
            c2 = _cpu()
            words = [c for kind, _, c in calls if kind == "words"]
            cells = sum(c for kind, _, c in calls if kind == "cells")
            rows.append({
                "page": p.name, "confidence": round(res.confidence, 3), "raw_cpu": round(raw, 3),
                "main_pass": round(words[0] if words else 0.0, 3),
                "second_readings": round(sum(words[1:]), 3), "passes": len(words),
                "langs": [lang for kind, lang, _ in calls if kind == "words"],
                "ocr_python": round((c1 - c0) - sum(words), 3),  # grey, checks, skew, TSV, arbitration (+OSD)
                "table_cells": round(cells, 3),
                "tables_postcorrect_python": round((c2 - c1) - cells, 3),
                "pipeline_cpu": round(c2 - c0, 3),
            })
    finally:
        ocr.tesseract_words, ocr_tables._tesseract_chars = inner_words, inner_cells
    keys = ("raw_cpu", "main_pass", "second_readings", "ocr_python", "table_cells", "tables_postcorrect_python",
            "pipeline_cpu")
    total = {k: round(sum(r[k] for r in rows), 2) for k in keys}
    return {"pages": len(rows), "total": total, "cpu_ratio_to_tesseract": round(total["raw_cpu"] / total["pipeline_cpu"], 3),
            "per_page": rows}


# ---------------------------------------------------------------- re-check of an unchanged inbox

def _bulk_documents(con, shas: list[str]) -> None:
    """Rows in `documents` for these sha256s (only the NOT NULL columns the lookup needs)."""
    con.execute("CREATE TEMP TABLE bench_shas (sha256 VARCHAR)")
    con.executemany("INSERT INTO bench_shas VALUES (?)", [[s] for s in shas])
    con.execute("""INSERT INTO documents (id, sha256, ingested_at, extracted_at, record_json)
                   SELECT left(sha256, 16), sha256, now(), now(), '{}' FROM bench_shas""")


def bench_recheck(tmp: Path, n: int, per_file_sample: int, ingest_sample: int) -> dict:
    import duckdb

    from congvan.pipeline import inbox
    from congvan.pipeline.acquire import sha256_file
    from congvan.pipeline.store import Store

    s = _settings(tmp, 2)
    s.inbox.mkdir(parents=True)
    src = sorted(SAMPLES.glob("*-text.pdf"))[0]
    for k in range(n):
        _unique_copy(src, s.inbox / f"cv-{k:05d}.pdf", f"inbox-{k}")
    old = time.time() - 3600
    for p in s.inbox.iterdir():
        os.utime(p, (old, old))
    time.sleep(max(0.0, s.settle_seconds))
    files = sorted(s.inbox.iterdir())
    Store(s.db).close()  # schema as the pipeline makes it
    con = duckdb.connect(str(s.db))
    try:
        _bulk_documents(con, [sha256_file(p) for p in files])
    finally:
        con.close()

    t0 = _now()
    ready = inbox.ready_files(s)
    scan_s = _now() - t0
    t0 = _now()
    shas = [sha256_file(p) for p in ready]
    hash_s = _now() - t0

    store = Store(s.db, wait_seconds=5)
    t0 = _now()
    held_each = sum(store.has_sha256(x) for x in shas[:per_file_sample])
    per_file_s = (_now() - t0) / max(1, per_file_sample)
    t0 = _now()
    _, rows = store.query("SELECT sha256 FROM documents WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [shas])
    batch_s = _now() - t0
    held = {r[0] for r in rows}
    store.close()

    # `congvan ingest FOLDER` over held files: hash each, one batched lookup; the first run records
    # the sightings (one transaction), the second finds them recorded and writes nothing.
    sample_dir = tmp / "recheck-sample"
    sample_dir.mkdir()
    for p in files[:ingest_sample]:
        os.link(p, sample_dir / p.name)
    t0 = _now()
    summary = _ingest([sample_dir], replace(s, workers=2))
    first_s = _now() - t0
    t0 = _now()
    again = _ingest([sample_dir], replace(s, workers=2))
    second_s = _now() - t0
    ingest_per_file = first_s / max(1, ingest_sample)
    return {
        "files": len(files), "ready": len(ready),
        "scan_seconds": round(scan_s, 3), "hash_seconds": round(hash_s, 3),
        "bytes_per_file": src.stat().st_size,
        "lookup_per_file_ms": round(per_file_s * 1000, 2), "lookup_per_file_sample": per_file_sample,
        "lookup_per_file_held": held_each,
        "lookup_batched_seconds": round(batch_s, 3), "held": len(held),
        "recheck_batched_seconds": round(scan_s + hash_s + batch_s, 3),
        "recheck_per_file_seconds_est": round(scan_s + hash_s + per_file_s * len(files), 2),
        "ingest_rerun_per_file_ms": round(ingest_per_file * 1000, 1), "ingest_rerun_sample": ingest_sample,
        "ingest_rerun_duplicates": summary.get("duplicates", 0),
        "ingest_rerun_seconds_est_1000": round(ingest_per_file * 1000, 1),
        "ingest_first_seconds": round(first_s, 2), "ingest_unchanged_seconds": round(second_s, 2),
        "ingest_unchanged_duplicates": again.get("duplicates", 0),
    }


# ---------------------------------------------------------------- DuckDB at 100,000 documents

SYNTH_SQL = """
-- Three levels, as dispatches cite: central directives (level 0), provincial plans citing 1-2 of
-- them (level 1), district/commune documents citing provincial plans and a directive (level 2);
-- 5 % of citations name documents not held (unresolved).
CREATE TEMP TABLE synth AS
SELECT i,
       CASE WHEN i < $n0 THEN 0 WHEN i < $n0 + $n1 THEN 1 ELSE 2 END AS level,
       sha256(concat('congvan-bench-', i)) AS sha
FROM range($n) t(i);

INSERT INTO documents (id, sha256, number, symbol, doc_type, doc_key, issuer_name, issued_date, issued_on,
                       issued_precision, subject, text_source, pages, pipeline_version, ingested_at,
                       extracted_at, original_name, record_json)
SELECT left(sha, 16), sha, concat(i, '/KH-UBND'), 'KH-UBND', 'KH', concat('KH:', i, ':UBND'),
       concat('Ủy ban nhân dân ', i % 700), strftime(DATE '2024-01-01' + INTERVAL (i % 330) DAY, '%Y-%m-%d'),
       CAST(DATE '2024-01-01' + INTERVAL (i % 330) DAY AS DATE), 'day',
       concat('Kế hoạch thực hiện phong trào thi đua số ', i),
       'text_layer', 2, 'bench', now(), now(), concat('cv-', i, '.pdf'), '{}'
FROM synth;

INSERT INTO texts SELECT left(sha, 16), concat('Kế hoạch thực hiện phong trào thi đua số ', i) FROM synth;

INSERT INTO doc_references (document_id, ordinal, key, raw, doc_type, number, citation)
SELECT left(sha, 16), ordinal,
       CASE WHEN hash(i, ordinal) % 20 = 0 THEN concat('CT:', 1000000 + hash(i) % 5000, ':TW')
            WHEN level = 1 OR ordinal = 2 THEN concat('KH:', hash(i, ordinal, 'a') % $n0, ':UBND')
            ELSE concat('KH:', $n0 + hash(i, ordinal, 'b') % $n1, ':UBND') END,
       'Kế hoạch số ...', 'KH', NULL, 'thuc_hien'
FROM (SELECT *, unnest(range(CASE WHEN level = 0 THEN 0 WHEN level = 1 THEN 2 ELSE 3 END)) AS ordinal FROM synth);
"""


def bench_duckdb(tmp: Path, n: int, records: list, saves: int) -> dict:
    import duckdb

    from congvan.pipeline.store import Store

    db = tmp / "synthetic.duckdb"
    Store(db).close()
    n0, n1 = max(10, n // 100), max(50, n // 10)
    con = duckdb.connect(str(db))
    try:
        t0 = _now()
        con.execute(SYNTH_SQL.replace("$n0", str(n0)).replace("$n1", str(n1)).replace("$n", str(n)))
        con.execute("CHECKPOINT")
        load_s = _now() - t0
        docs, refs = con.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM doc_references)").fetchone()
    finally:
        con.close()
    # The bulk load bypassed Store.save, which keeps the citation graph (xref_*) behind citing():
    # rebuild it once, as a loader would.
    t0 = _now()
    with Store(db) as st:
        st.refresh_xref()
    xref_s = _now() - t0

    # The real write path: Store.save of real records (sha256 changed so each is new).
    save_rate = None
    if records and saves:
        import hashlib

        t0 = _now()
        store = Store(db)
        for k in range(saves):
            rec = records[k % len(records)]
            sha = hashlib.sha256(f"bench-save-{k}".encode()).hexdigest()
            rec = rec.model_copy(update={"source": rec.source.model_copy(update={"sha256": sha})})
            store.save(rec, stored_path=f"/bench/{k}.pdf", original_name=f"{k}.pdf")
        store.close()
        save_rate = saves / (_now() - t0)

    store = Store(db, read_only=True)
    rng = random.Random(6)

    def timed(sql: str, params: list, reps: int) -> dict:
        times, rows = [], 0
        for _ in range(reps):
            t0 = _now()
            _, out = store.query(sql, params() if callable(params) else params)
            times.append((_now() - t0) * 1000)
            rows = len(out)
        return {"first_ms": round(times[0], 1), "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(sorted(times)[max(0, int(len(times) * 0.95) - 1)], 1), "max_ms": round(max(times), 1),
                "rows_last": rows}

    reps = 20
    q = {
        "citing_directive": timed("SELECT * FROM citing(?)", lambda: [f"KH:{rng.randrange(n0)}:UBND"], reps),
        "citing_provincial": timed("SELECT * FROM citing(?)", lambda: [f"KH:{n0 + rng.randrange(n1)}:UBND"], reps),
        "citing_local": timed("SELECT * FROM citing(?)", lambda: [f"KH:{n0 + n1 + rng.randrange(n - n0 - n1)}:UBND"], reps),
        "cited_by_direct": timed("SELECT citing_id, citing_number FROM v_citations WHERE key = ?",
                                 lambda: [f"KH:{rng.randrange(n0)}:UBND"], reps),
        "unresolved_all": timed("SELECT count(*), sum(cited_by_count) FROM v_unresolved_references", [], 3),
    }
    store.close()
    keyed = [v for k, v in q.items() if k != "unresolved_all"]
    return {
        "documents": docs, "references": refs, "bulk_load_seconds": round(load_s, 2),
        "bulk_docs_per_s": round(docs / load_s), "xref_rebuild_seconds": round(xref_s, 2),
        "store_save_docs_per_s": round(save_rate, 2) if save_rate else None,
        "store_saves": saves, "queries": q,
        "xref_worst_median_ms": max(v["median_ms"] for v in keyed),
        "xref_worst_p95_ms": max(v["p95_ms"] for v in keyed),
        "db_mb": round(db.stat().st_size / 2**20, 1),
    }


# ---------------------------------------------------------------- report

def _ok(metric: str, value: Any) -> str:
    if metric not in TARGETS or value is None:
        return ""
    op, target = TARGETS[metric]
    good = value >= target if op == ">=" else value <= target
    return "[green]yes[/]" if good else "[red]no[/]"


def print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"congvan bench ({'quick' if res['quick'] else 'full'}, {res['machine']['cpus']} cores, "
                    f"{res['workers']} workers, load {res['machine']['load_before']} → {res['machine']['load_after']})")
    for c in ("measure", "value", "target", "met", "notes"):
        t.add_column(c, overflow="fold")

    def row(name, metric, value, unit, notes=""):
        op_t = TARGETS.get(metric)
        t.add_row(name, "—" if value is None else f"{value} {unit}", f"{op_t[0]} {op_t[1]:g}" if op_t else "",
                  _ok(metric, value), notes)

    tx = res.get("text")
    if tx:
        row("text-layer pages/s, ingest end to end", "text_pages_per_s", tx["pages_per_s"], "p/s",
            f"{tx['pages']} pages in {tx['files']} files; extract only {tx['extract_pages_per_s']} p/s (1 thread)")
        if "cli_pages_per_s" in tx:
            row("… `congvan ingest FOLDER`, a fresh process", "text_pages_per_s", tx["cli_pages_per_s"], "p/s",
                f"{tx['cli_seconds']} s from a cold start to the last commit")
        if "prefect_cli_pages_per_s" in tx:
            row("… `congvan ingest FOLDER --prefect`, no server", "", tx["prefect_cli_pages_per_s"], "p/s",
                f"{tx['prefect_cli_seconds']} s: Prefect's temporary server starts for the run")
    sc = res.get("scans")
    if sc:
        row("scanned pages/s, ingest end to end", "", sc["pages_per_s"], "p/s",
            f"{sc['pages']} pages at {sc['dpi']} dpi, {sc['workers']} workers")
        row("raw tesseract CLI, same pages", "", sc["raw_pages_per_s"], "p/s", f"timed by {sc['raw_timer']}")
        row("pipeline / raw tesseract", "scan_ratio_to_tesseract", sc["ratio_to_tesseract"], "×",
            f"acquisition alone (no extractors, no store): {sc['acquire_ratio_to_tesseract']}×")
        if "cpu_ratio_to_tesseract" in sc:
            row("pipeline / raw tesseract, CPU seconds", "scan_ratio_to_tesseract", sc["cpu_ratio_to_tesseract"], "×",
                f"raw {sc['raw_cpu_seconds']} s, pipeline {sc['pipeline_cpu_seconds']} s; acquisition alone "
                f"{sc['acquire_cpu_ratio_to_tesseract']}×; OCR cache warm {sc['warm_cache_cpu_seconds']} s")
        row("parallel efficiency (1 → N workers)", "", sc["parallel_efficiency"], "",
            f"raw tesseract's own: {sc['raw_parallel_efficiency']}")
        row("scanned, OCR cache warm", "", sc["warm_cache_pages_per_s"], "p/s", f"{sc['warm_cache_speedup']}× faster")
    pg = res.get("pages")
    if pg:
        tot = pg["total"]
        row("scanned pages, paired per page: raw / pipeline CPU", "scan_ratio_to_tesseract",
            pg["cpu_ratio_to_tesseract"], "×",
            f"{pg['pages']} pages: raw {tot['raw_cpu']} s; pipeline {tot['pipeline_cpu']} s = main pass "
            f"{tot['main_pass']} + second readings {tot['second_readings']} + OCR Python {tot['ocr_python']} + "
            f"table cells {tot['table_cells']} + tables/post-correction {tot['tables_postcorrect_python']}")
    rc = res.get("recheck")
    if rc:
        row(f"re-check unchanged inbox of {rc['files']} (batched lookup)", "recheck_1000_s",
            rc["recheck_batched_seconds"], "s",
            f"scan {rc['scan_seconds']} + sha256 {rc['hash_seconds']} + lookup {rc['lookup_batched_seconds']}")
        row("… with one lookup per file (as the flow asks)", "recheck_1000_s", rc["recheck_per_file_seconds_est"], "s",
            f"{rc['lookup_per_file_ms']} ms per has_sha256")
        row(f"`congvan ingest FOLDER` of {rc['ingest_rerun_sample']} held files, unchanged", "recheck_1000_s",
            rc["ingest_unchanged_seconds"], "s",
            f"first re-run (sightings recorded in one batch) {rc['ingest_first_seconds']} s")
    db = res.get("duckdb")
    if db:
        row(f"DuckDB bulk load ({db['documents']:,} docs, {db['references']:,} refs)", "", db["bulk_docs_per_s"],
            "docs/s", f"{db['bulk_load_seconds']} s, {db['db_mb']} MB; citation graph rebuilt in "
                      f"{db.get('xref_rebuild_seconds')} s")
        row("Store.save (real records)", "", db["store_save_docs_per_s"], "docs/s", f"{db['store_saves']} saves")
        row("cross-reference query, worst median", "xref_query_ms", db["xref_worst_median_ms"], "ms",
            ", ".join(f"{k} {v['median_ms']}" for k, v in db["queries"].items() if k != "unresolved_all"))
        row("unresolved references (whole graph)", "", db["queries"]["unresolved_all"]["median_ms"], "ms")
    m = res["memory"]
    row("peak memory (all processes at once, sampled)", "peak_memory_mb", m.get("tree_peak_mb", m.get("pipeline_self_mb")),
        "MB", f"bench process alone {m.get('pipeline_self_mb')} MB; largest child {m.get('children_mb')} MB; "
              f"final incl. DuckDB bench {m.get('final_self_mb')} MB")
    console = Console(width=max(Console().width, 140))
    console.print(t)
    console.print("Timings on a shared machine vary with its load (see `load`): re-run on an idle machine for "
                    "the figures that count.", style="dim")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sets: checks the harness in a minute or two")
    ap.add_argument("--workers", type=int, default=None, help="pipeline workers and raw tesseract parallelism (cores)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--only", nargs="*", choices=["text", "scans", "pages", "recheck", "duckdb"], default=None,
                    help="steps to run (default: all but `pages`, the paired per-page CPU breakdown)")
    ap.add_argument("--docs", type=int, default=None, help="synthetic database size (100,000; quick 10,000)")
    args = ap.parse_args(argv)
    import logging

    from congvan.config import Settings

    # Per-file ingest logs still go to each run's data/logs/ingest.log; keep the terminal for the table.
    logging.getLogger("congvan").propagate = False

    workers = args.workers or Settings().workers
    only = set(args.only or ["text", "scans", "recheck", "duckdb"])
    res: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick, "workers": workers,
        "machine": {"cpus": os.cpu_count(), "load_before": _load(),
                    "tesseract": subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
                    # the pipeline's pages go to libtesseract in its own process (ocr._Engine) unless ""
                    "pipeline_libtesseract": _engine_version()},
        "targets": {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()},
    }
    records: list = []
    with tempfile.TemporaryDirectory(prefix="congvan-bench-") as d:
        tmp = Path(d)
        steps: list[tuple[str, Callable[[], dict]]] = [
            ("text", lambda: bench_text(tmp, workers, copies=1 if args.quick else 3, with_prefect=not args.quick)),
            ("scans", lambda: bench_scans(tmp, workers, args.quick)),
            ("pages", lambda: bench_scan_pages(tmp, args.quick)),
        ]
        with PeakTreeMemory() as tree:  # this process + extraction workers + tesseracts, summed
            for name, fn in steps:
                if name in only:
                    print(f"bench: {name}…", file=sys.stderr, flush=True)
                    out = fn()
                    records = out.pop("_records", records)
                    res[name] = out
        res["memory"] = {"pipeline_self_mb": _maxrss_mb(resource.RUSAGE_SELF),
                         "children_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
                         "tree_peak_mb": tree.peak_mb}
        if "recheck" in only:
            print("bench: recheck…", file=sys.stderr, flush=True)
            res["recheck"] = bench_recheck(tmp, 1000, per_file_sample=100 if args.quick else 1000,
                                           ingest_sample=1000)
        if "duckdb" in only:
            print("bench: duckdb…", file=sys.stderr, flush=True)
            res["duckdb"] = bench_duckdb(tmp, args.docs or (10_000 if args.quick else 100_000), records,
                                         saves=10 if args.quick else 50)
    res["memory"]["final_self_mb"] = _maxrss_mb(resource.RUSAGE_SELF)
    res["memory"]["children_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
    res["machine"]["load_after"] = _load()
    res["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(res)
    print(f"results: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
