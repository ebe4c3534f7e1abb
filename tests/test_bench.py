"""The benchmark harness measures what it says, on tiny inputs (no timing is asserted)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from congvan.pipeline.acquire import sha256_file
from congvan.pipeline.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _load_bench():
    """benchmarks/ is a folder of scripts beside the package, not an installed module."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("congvan_bench", ROOT / "benchmarks" / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()


def _pdf(path: Path, pages: int) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(144, 72))  # 2 x 1 inch
    for k in range(pages):
        c.drawString(10, 30, f"page {k + 1}")
        c.showPage()
    c.save()
    return path


def test_render_pages_match_the_pipeline_dpi(tmp_path):
    pdf = _pdf(tmp_path / "a.pdf", 2)
    tiff = tmp_path / "b.tiff"
    frames = [Image.new("L", (50, 40), 255), Image.new("L", (50, 40), 0)]
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    pngs = bench.render_pages([pdf, tiff], 144, tmp_path / "out")
    assert [p.name for p in pngs] == ["a-p1.png", "a-p2.png", "b-p1.png", "b-p2.png"]
    assert Image.open(pngs[0]).size == (288, 144)  # 2 x 1 inch at 144 dpi
    assert Image.open(pngs[3]).size == (50, 40)


def test_render_pages_keep_files_sharing_a_stem_apart(tmp_path):
    """003-scan.pdf and 003-scan.tiff: the image's pages must not overwrite the PDF's (the raw bound
    would then read the TIFF's pages twice and the PDF's never)."""
    pdf = _pdf(tmp_path / "a.pdf", 1)
    tiff = tmp_path / "a.tiff"
    Image.new("L", (50, 40), 255).save(tiff)
    pngs = bench.render_pages([pdf, tiff], 72, tmp_path / "out")
    assert [p.name for p in pngs] == ["a-p1.png", "a-tiff-p1.png"]
    assert Image.open(pngs[0]).size == (144, 72) and Image.open(pngs[1]).size == (50, 40)


def test_unique_copies_differ_in_bytes_not_pages(tmp_path):
    src = _pdf(tmp_path / "a.pdf", 3)
    a = bench._unique_copy(src, tmp_path / "x.pdf", "1")
    b = bench._unique_copy(src, tmp_path / "y.pdf", "2")
    assert sha256_file(a) != sha256_file(b)
    assert bench._pages_of(a) == bench._pages_of(b) == 3


@pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract not installed")
def test_raw_tesseract_runs_every_page(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)  # the perf_counter path
    pngs = []
    for k in range(3):
        img = Image.new("L", (200, 60), 255)
        ImageDraw.Draw(img).text((10, 20), f"SO {k}", fill=0)
        pngs.append(tmp_path / f"p{k}.png")
        img.save(pngs[-1])
    out = bench.raw_tesseract(pngs, 2, "eng", 7)
    assert out["seconds"] > 0 and out["timer"] == "perf_counter"
    assert out["cpu_seconds"] > 0  # tesseract's own CPU time, counted through xargs (children's rusage)
    assert (tmp_path / "pages.txt").read_text().split() == [str(p) for p in pngs]


@pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract not installed")
def test_paired_pages_split_the_pipeline_cpu_by_stage(tmp_path, monkeypatch):
    img = Image.new("RGB", (600, 120), "white")
    ImageDraw.Draw(img).text((20, 50), "SO 12 UBND", fill="black")
    img.save(tmp_path / "p.png")
    monkeypatch.setattr(bench, "_scan_files", lambda quick: [tmp_path / "p.png"])
    out = bench.bench_scan_pages(tmp_path, quick=True)
    (row,) = out["per_page"]
    assert out["pages"] == 1 and row["page"] == "p-p1.png" and row["passes"] >= 1 and row["langs"][0] == "vie"
    parts = ("main_pass", "second_readings", "ocr_python", "table_cells", "tables_postcorrect_python")
    assert sum(row[k] for k in parts) == pytest.approx(row["pipeline_cpu"], abs=0.01)
    assert row["raw_cpu"] > 0 and out["cpu_ratio_to_tesseract"] > 0
    from congvan.pipeline import ocr

    assert not hasattr(ocr.tesseract_words, "__wrapped__") and ocr.tesseract_words.__name__ == "tesseract_words"


def test_synthetic_database_uses_the_real_schema_and_queries(tmp_path):
    out = bench.bench_duckdb(tmp_path, 400, records=[], saves=0)
    assert out["documents"] == 400
    assert out["references"] > 400
    q = out["queries"]
    assert set(q) == {"citing_directive", "citing_provincial", "citing_local", "cited_by_direct", "unresolved_all"}
    assert q["citing_directive"]["rows_last"] > 0  # a directive is cited by plans
    with Store(tmp_path / "synthetic.duckdb", read_only=True) as st:
        _, rows = st.query("SELECT count(*) FROM v_unresolved_references")
        assert rows[0][0] > 0


def test_recheck_finds_every_file_held(tmp_path):
    out = bench.bench_recheck(tmp_path, 30, per_file_sample=5, ingest_sample=3)
    assert (out["files"], out["ready"], out["held"], out["lookup_per_file_held"]) == (30, 30, 30, 5)
    assert out["ingest_rerun_duplicates"] == 3  # the re-run extracts nothing
    assert out["ingest_unchanged_duplicates"] == 3  # and again, with the sightings already recorded


def test_main_writes_json_and_prints_a_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--only", "duckdb", "--docs", "300", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["duckdb"]["documents"] == 300 and res["memory"]["final_self_mb"] > 0
    assert "cross-reference query" in capsys.readouterr().out


def test_cli_ingest_is_timed_as_a_user_runs_it(tmp_path, monkeypatch):
    """The command in a fresh process, into a fresh database, without Prefect even when the
    caller's environment names a server (the timing must not depend on one)."""
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # unreachable: used, the run would fail
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(ROOT / "samples" / "002-text.pdf", folder / "a.pdf")
    seconds = bench._cli_ingest(folder, tmp_path / "data", 1)
    assert seconds > 0
    con = Store(tmp_path / "data" / "congvan.duckdb", read_only=True)
    try:
        assert con.has_sha256(sha256_file(folder / "a.pdf"))
    finally:
        con.close()
