"""Parallel pages: order kept, concurrency bounded process-wide, one render per OCR page, failures stop the file."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from congvan.config import Settings
from congvan.pipeline import acquire as acq
from congvan.pipeline import ocr as ocr_mod
from congvan.pipeline.acquire import acquire
from congvan.pipeline.errors import CongvanError
from congvan.pipeline.ocr import OcrResult

FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")


def _settings(tmp_path, workers=2) -> Settings:
    return Settings(db=tmp_path / "congvan.duckdb", workers=workers, ocr_cache="off", ocr_dpi=100)


class Gauge:
    """Counts how many calls run at the same time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_results_in_page_order_whatever_finishes_first():
    def work(i):
        time.sleep(0.05 * ((7 - i) % 4))
        return i

    assert acq._run_parallel(work, 8, 3) == list(range(8))
    assert acq._run_parallel(work, 8, 1) == list(range(8))


def test_files_in_parallel_share_one_bound(monkeypatch):
    """Two files read at once with workers=2 never run more than two pages at a time."""
    gauge = Gauge()

    def work(i):
        with gauge:
            time.sleep(0.05)
        return i

    out = {}
    threads = [threading.Thread(target=lambda k=k: out.__setitem__(k, acq._run_parallel(work, 6, 2))) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == list(range(6)) for v in out.values())
    assert gauge.peak <= 2


def test_first_failure_stops_the_file():
    started = []

    def work(i):
        started.append(i)
        if i == 0:
            raise CongvanError("page 1 is unreadable", stage="ocr")
        time.sleep(0.2)
        return i

    with pytest.raises(CongvanError, match="page 1"):
        acq._run_parallel(work, 12, 2)
    time.sleep(0.3)
    assert len(started) < 12  # pages not begun were dropped


def _scan_pdf(path: Path, kinds: list[str]) -> Path:
    """A PDF whose pages are either a picture of text ("scan") or real text ("text")."""
    if not FONT.exists():
        pytest.skip("Liberation Serif not installed")
    from PIL import ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("LibSerifPar", str(FONT)))
    c = canvas.Canvas(str(path))
    font = ImageFont.truetype(str(FONT), 28)
    for n, kind in enumerate(kinds, 1):
        line = f"Trang {n}: Ủy ban nhân dân tỉnh yêu cầu các cơ quan thực hiện kế hoạch."
        if kind == "scan":
            img = Image.new("RGB", (1240, 1754), "white")
            ImageDraw.Draw(img).text((80, 120), line, fill="black", font=font)
            buf = io.BytesIO()
            img.save(buf, "PNG")
            buf.seek(0)
            c.drawImage(ImageReader(buf), 0, 0, width=595, height=842)
        else:
            c.setFont("LibSerifPar", 13)
            for k in range(12):
                c.drawString(60, 780 - 22 * k, line)
        c.showPage()
    c.save()
    return path


def test_mixed_pdf_each_ocr_page_rendered_once(tmp_path, monkeypatch):
    import pypdfium2 as pdfium

    renders = []
    real_render = pdfium.PdfPage.render

    def counting_render(self, *a, **kw):
        renders.append(round(kw.get("scale", 1.0) * 72))
        return real_render(self, *a, **kw)

    monkeypatch.setattr(pdfium.PdfPage, "render", counting_render)
    gauge = Gauge()
    seen = []

    def fake_ocr(img, lang="vie", psm=4, timeout=120.0, **kw):
        with gauge:
            seen.append(threading.current_thread().name)
            time.sleep(0.1)
        return OcrResult(text="Ủy ban nhân dân tỉnh yêu cầu các cơ quan thực hiện", confidence=0.9, seconds=0.1)

    monkeypatch.setattr(ocr_mod, "ocr_image", fake_ocr)
    pdf = _scan_pdf(tmp_path / "mixed.pdf", ["scan", "text", "scan", "scan"])
    s = _settings(tmp_path, workers=2)
    doc = acquire(pdf, s)
    assert [p.source for p in doc.pages] == ["ocr", "text_layer", "ocr", "ocr"]
    assert [p.number for p in doc.pages] == [1, 2, 3, 4]
    assert "Trang 2" in doc.pages[1].text
    assert renders.count(s.ocr_dpi) == 3  # one OCR render per scanned page, none for the text page
    assert gauge.peak <= 2 and all(name.startswith("congvan-page") for name in seen)


def test_multipage_tiff_pages_in_order(tmp_path, monkeypatch):
    colours = [(255, 255, 255), (250, 250, 250), (245, 245, 245)]
    frames = [Image.new("RGB", (300, 400), c) for c in colours]
    p = tmp_path / "scan.tiff"
    frames[0].save(p, save_all=True, append_images=frames[1:])

    def fake_ocr(img, lang="vie", psm=4, timeout=120.0, **kw):
        time.sleep(0.05)
        return OcrResult(text=f"màu {img.convert('RGB').getpixel((0, 0))[0]}", confidence=0.9, seconds=0.05)

    monkeypatch.setattr(ocr_mod, "ocr_image", fake_ocr)
    doc = acquire(p, _settings(tmp_path, workers=3))
    assert [pg.original for pg in doc.pages] == ["màu 255", "màu 250", "màu 245"]


def test_tesseract_gets_one_thread():
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    out = subprocess.run([sys.executable, "-c", "import os, congvan.pipeline.ocr; print(os.environ['OMP_THREAD_LIMIT'])"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_gets_its_own_pool():
    assert acq._run_parallel(lambda i: i, 4, 2) == [0, 1, 2, 3]  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: must not wait on the parent's (absent) threads
        ok = False
        try:
            ok = acq._run_parallel(lambda i: i * 2, 4, 2) == [0, 2, 4, 6]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the parent's page pool")
        time.sleep(0.05)
    assert os.WEXITSTATUS(status) == 0
