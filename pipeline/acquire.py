"""File → pages of text: open safely, then per page use the text layer, repair it, or OCR.

Like OCRmyPDF's skip/redo decision, but per page and by evidence: a text layer is used only
when it is the page's real text (it covers the page's ink) and reads as Vietnamese
(`quality.validity`); a legacy-font or broken-ToUnicode layer is repaired when the repair
scores well; anything else (no layer, a one-line "SAO Y" stamp over a scan, old mojibake
OCR) is OCR'd. PDFs are only parsed and rendered, never executed (no JS, no attachments).
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from congvan.config import Settings
from congvan.pipeline.document import Document, Page
from congvan.pipeline.errors import (
    CongvanError,
    CorruptInput,
    EncryptedInput,
    LimitExceeded,
    UnsupportedInput,
)
from congvan.pipeline.leanchars import make_lean
from congvan.pipeline.quality import validity
from congvan.pipeline.repair import (
    SUSPECTS,
    best_legacy_decoding,
    learn_symbol_map,
    legacy_font_family,
    nfc,
)

log = logging.getLogger(__name__)

# Decision thresholds (validity is the share of tokens that are Vietnamese syllables/codes).
MIN_VALID_LAYER = 0.75  # below this a text layer is not trusted as Vietnamese
MIN_VALID_REPAIR = 0.80  # a repair must reach this to be trusted instead of OCR
MIN_INK_COVERAGE = 0.30  # share of the page's ink under text-layer glyph boxes
MIN_GLYPH_AREA_ON_IMAGE = 0.03  # a real layer over a full-page scan (even invisible OCR) spans far more
INK_DPI = 40  # coarse render used only to measure ink

# --------------------------------------------------------------------------- sniffing
_MAGIC = [
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
]
_LOOKS_LIKE = [
    (b"<!doctype html", "HTML"), (b"<html", "HTML"), (b"<?xml", "XML"), (b"pk\x03\x04", "a ZIP/Office file"),
    (b"{", "JSON or text"), (b"gif8", "a GIF image"), (b"riff", "a RIFF/WebP file"), (b"\xd0\xcf\x11\xe0", "an old Office file"),
]


def sniff(path: Path) -> str:
    """'pdf' | 'png' | 'jpeg' | 'tiff' from the first bytes; the extension is ignored."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise CorruptInput(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if size == 0:
        raise CorruptInput(f"{path.name} is empty (0 bytes)")
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"%PDF-" in head:  # a few producers put junk before the header; readers accept it
        return "pdf"
    low = head.lstrip().lower()
    what = next((name for sig, name in _LOOKS_LIKE if low.startswith(sig)), None)
    if what is None:
        what = "text" if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:256]) else "unknown binary data"
    raise UnsupportedInput(f"{path.name} is not a PDF or a PNG/JPEG/TIFF scan (its content looks like {what})")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- entry point
def acquire(path: Path, settings: Settings | None = None) -> Document:
    """Read one PDF or scan image into a Document, one decided Page per page, in order."""
    settings = settings or Settings()
    path = Path(path)
    kind = sniff(path)
    digest = sha256_file(path)
    if kind == "pdf":
        pages = _acquire_pdf(path, settings)
    else:
        pages = _acquire_image(path, settings)
    return Document(path=str(path), sha256=digest, pages=pages)


# --------------------------------------------------------------------------- images
class _ImageFrames:
    """The pages of a scan image, checked against the limits up front and decoded one at a time
    when OCR takes them, so a 100-page TIFF never holds 100 decoded pages at once."""

    def __init__(self, path: Path, settings: Settings):
        from PIL import Image

        self.path = path
        self.settings = settings
        self._lock = threading.Lock()  # one file handle: frames are sought and decoded one at a time
        Image.MAX_IMAGE_PIXELS = settings.max_pixels  # PIL raises DecompressionBombError at 2x this
        self._img = self._guard(lambda: Image.open(path))
        try:
            n = self._guard(lambda: getattr(self._img, "n_frames", 1))
            if n > settings.max_pages:
                raise LimitExceeded(f"{path.name} has {n} pages, over the limit max_pages={settings.max_pages}")
            for i in range(n):  # sizes come from each frame's header: nothing is decoded yet
                w, h = self._guard(lambda: self._seek(i).size)
                if w * h > settings.max_pixels:
                    raise LimitExceeded(
                        f"{path.name} page {i + 1} is {w}x{h} = {w * h:,} pixels, over the limit max_pixels={settings.max_pixels:,}"
                    )
            self.n = n
        except BaseException:
            self.close()
            raise

    def _seek(self, i: int):
        if getattr(self._img, "n_frames", 1) > 1 or i:
            self._img.seek(i)
        return self._img

    def _guard(self, fn):
        """Run fn with PIL's errors turned into ours (bombs are limits, the rest damage)."""
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                return fn()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise LimitExceeded(f"{self.path.name} is a decompression bomb: {exc} "
                                f"(limit max_pixels={self.settings.max_pixels:,})") from exc
        except CongvanError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptInput(f"{self.path.name} is a damaged or truncated image: {exc}") from exc

    def __len__(self) -> int:
        return self.n

    def load(self, i: int):
        """Page i decoded (a copy that outlives the file handle)."""
        with self._lock:
            def decode():
                frame = self._seek(i)
                frame.load()
                return frame.copy()

            return self._guard(decode)

    def close(self) -> None:
        img, self._img = getattr(self, "_img", None), None
        if img is not None:
            img.close()


def _open_image_frames(path: Path, settings: Settings) -> _ImageFrames:
    return _ImageFrames(path, settings)


def _acquire_image(path: Path, settings: Settings) -> list[Page]:
    frames = _open_image_frames(path, settings)

    def work(i: int) -> Page:
        img = frames.load(i)
        res = _ocr_or_fail(img, settings, f"{path.name} page {i + 1}")
        return _ocr_page(i + 1, res, "scan image, no text layer", "", img)

    try:
        return _run_parallel(work, len(frames), settings.workers)
    finally:
        frames.close()


# --------------------------------------------------------------------------- PDFs
def _open_pdfium(path: Path):
    import pypdfium2 as pdfium

    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 2048))
        tail = fh.read()
    if b"%%EOF" not in tail:
        raise CorruptInput(f"{path.name} is truncated: the PDF has no end-of-file marker (%%EOF)")
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower() and _declares_encryption(path):
            raise EncryptedInput(f"{path.name} is password-protected; we do not guess passwords") from exc
        raise CorruptInput(f"{path.name} cannot be opened as a PDF ({msg.split('(', 1)[-1].rstrip(').')})") from exc


def _declares_encryption(path: Path) -> bool:
    """Does the file carry an /Encrypt dictionary? PDFium's last error is process-wide and some
    failed loads do not set it, so a 0-page file read after a password-protected one was reported
    as password-protected too (seen in the fault suite); its word alone is not enough."""
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if b"/Encrypt" in tail + chunk:
                return True
            tail = chunk[-16:]
    return False


def _flatten_annotations(pdf_doc) -> Optional[io.BytesIO]:
    """Copy with annotation appearances drawn into the pages, or None when there are none.

    E-office systems stamp the number and day ("Số: 143", "ngày 03") into signature-widget
    appearance streams; pdfplumber and pdfium's text page ignore annotations, so without
    flattening the number silently disappears from the text layer.
    """
    import pypdfium2.raw as raw

    if not any(raw.FPDFPage_GetAnnotCount(page.raw) > 0 for page in pdf_doc):
        return None
    for page in pdf_doc:
        raw.FPDFPage_Flatten(page.raw, raw.FLAT_NORMALDISPLAY)
    buf = io.BytesIO()
    pdf_doc.save(buf)
    buf.seek(0)
    return buf


def _without_hidden_spaces(page):
    """Drop space glyphs lying under real glyphs (blank placeholders that a stamped number overprints).

    A blank is hidden when a visible glyph on its line (mid-heights closer than half the blank's
    height) covers more than half its width. Glyphs are sorted by mid-height so each blank is
    tested, with numpy, only against the glyphs of its own line band (a slightly wider band, then
    the exact test), not against every glyph of the page."""
    chars = page.chars
    vis = [c for c in chars if c["text"].strip()]
    if not vis or len(vis) == len(chars):
        return page
    blanks = [c for c in chars if not c["text"].strip()]
    mid = np.array([(c["top"] + c["bottom"]) / 2 for c in vis])
    order = np.argsort(mid, kind="stable")
    mid = mid[order]
    x0 = np.array([c["x0"] for c in vis])[order]
    x1 = np.array([c["x1"] for c in vis])[order]
    b_x0 = np.array([c["x0"] for c in blanks])
    b_x1 = np.array([c["x1"] for c in blanks])
    b_top = np.array([c["top"] for c in blanks])
    b_bottom = np.array([c["bottom"] for c in blanks])
    w = np.maximum(b_x1 - b_x0, 0.1)
    cm = (b_top + b_bottom) / 2
    half = np.maximum(b_bottom - b_top, 1.0) / 2
    slack = 1e-6 * (1.0 + np.abs(cm) + half)  # far above rounding error: the band only widens
    lo = np.searchsorted(mid, cm - half - slack, side="left")
    hi = np.searchsorted(mid, cm + half + slack, side="right")
    counts = np.maximum(hi - lo, 0)
    blank_of = np.repeat(np.arange(len(blanks)), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    glyph = np.arange(int(counts.sum())) + starts
    same_line = np.abs(mid[glyph] - cm[blank_of]) < half[blank_of]
    overlap = np.minimum(x1[glyph], b_x1[blank_of]) - np.maximum(x0[glyph], b_x0[blank_of])
    hit = np.zeros(len(blanks), dtype=bool)
    hit[blank_of[same_line & (overlap > 0.5 * w[blank_of])]] = True
    if not hit.any():
        return page
    hidden = {id(c) for c, h in zip(blanks, hit) if h}
    return page.filter(lambda o: id(o) not in hidden)


@dataclass
class _LayerDecision:
    page: Optional[Page]  # decided page, or None → OCR
    reason: str
    original: str


def _acquire_pdf(path: Path, settings: Settings) -> list[Page]:
    import pdfplumber

    from congvan.pipeline.cache import bitmap_digest, page_cache

    with _PDFIUM:
        pdf_doc = _open_pdfium(path)
    try:
        pdf_doc, source = _checked_and_flattened(pdf_doc, path, settings)
        try:
            plumber = pdfplumber.open(source if source is not None else path)
        except Exception as exc:  # pdfminer raises many types for broken files
            if "password" in repr(exc).lower() or "encrypt" in repr(exc).lower():
                raise EncryptedInput(f"{path.name} is password-protected; we do not guess passwords") from exc
            raise CorruptInput(f"{path.name} cannot be parsed as a PDF: {type(exc).__name__}: {exc}") from exc
        # page objects read by PLAYA (or lean from pdfminer's): the same dicts, several times cheaper
        make_lean(plumber, source if source is not None else path)
        n = _locked_call(lambda: len(pdf_doc))
        scale = settings.ocr_dpi / 72.0

        def work(i: int, d: _LayerDecision) -> Page:
            # The one render of this page at OCR resolution; the image lives only while it is read.
            try:
                with _PDFIUM:
                    bitmap = pdf_doc[i].render(scale=scale)
                    img = bitmap.to_pil()
            except Exception as exc:
                raise CorruptInput(f"{path.name} page {i + 1} cannot be rendered: {exc}") from exc
            try:  # the cache key from the bitmap in place: cheaper than from the PIL copy
                digest = bitmap_digest(bitmap) if page_cache(settings) is not None else None
            finally:
                with _PDFIUM:  # pdfium is not thread-safe, its bitmaps' release included
                    bitmap.close()
            res = _ocr_or_fail(img, settings, f"{path.name} page {i + 1}", digest)
            return _ocr_page(i + 1, res, d.reason, d.original, img)

        # Decisions are taken here in page order while earlier pages that need OCR are already
        # being rendered and read on the shared pool: the text layer of page 5 is parsed while
        # page 1 is in tesseract.
        pages = _Pages(n, settings.workers)
        try:
            try:
                smap = _learn_document_symbol_map(plumber)
                for i in range(n):
                    try:
                        d = _decide_layer(plumber.pages[i], _Locked(_locked_call(lambda: pdf_doc[i])), i + 1, smap)
                    except CongvanError:
                        raise
                    except Exception as exc:
                        log.warning("page %d text layer unreadable: %s", i + 1, exc)
                        d = _LayerDecision(None, f"text layer unreadable ({type(exc).__name__}): OCR", "")
                    if d.page is not None:
                        pages.put(i, d.page)
                    else:
                        pages.run(i, functools.partial(work, i, d))
            finally:
                plumber.close()
            return pages.gather()
        except BaseException:
            pages.abandon()
            raise
    finally:
        with _PDFIUM:
            pdf_doc.close()


def _checked_and_flattened(pdf_doc, path: Path, settings: Settings):
    """Limits checked on every page, then annotations drawn in: (document to render, flattened bytes or None).
    Closes `pdf_doc` itself when it swaps it for the flattened copy."""
    with _PDFIUM:
        n = len(pdf_doc)
        if n == 0:
            raise CorruptInput(f"{path.name} has no pages")
        if n > settings.max_pages:
            raise LimitExceeded(f"{path.name} has {n} pages, over the limit max_pages={settings.max_pages}")
        scale = settings.ocr_dpi / 72.0
        for i in range(n):
            w, h = pdf_doc[i].get_size()
            px = int(w * scale) * int(h * scale)
            if px > settings.max_pixels:
                raise LimitExceeded(
                    f"{path.name} page {i + 1} would render to {px:,} pixels at {settings.ocr_dpi} dpi, "
                    f"over the limit max_pixels={settings.max_pixels:,}"
                )
        source = _flatten_annotations(pdf_doc)
        if source is None:
            return pdf_doc, None
        # reopen the flattened copy so both libraries see the same page content
        import pypdfium2 as pdfium

        flat = pdfium.PdfDocument(source.getvalue())
        pdf_doc.close()
        source.seek(0)
        return flat, source


# --------------------------------------------------------------------------- scheduling
# pdfium is not thread-safe, not even across documents: every pdfium call of this process goes
# through this lock. Rendering a page takes ~0.1 s against seconds of OCR, so one at a time is cheap.
_PDFIUM = threading.RLock()


def _locked_call(fn):
    with _PDFIUM:
        return fn()


class _Locked:
    """A pypdfium2 object whose calls take the pdfium lock; what they return is wrapped alike
    (page → bitmap → PIL image), so decision code written for plain pdfium stays unaware."""

    __slots__ = ("_obj",)

    def __init__(self, obj):
        self._obj = obj

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _PDFIUM:
                out = attr(*args, **kwargs)
            return _Locked(out) if type(out).__module__.startswith("pypdfium2") else out

        return call


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _page_pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide pool per size. Files read at the same time (ingestion threads, Prefect
    task threads) share it, so at most `workers` pages are being rendered and OCR'd at once —
    one single-threaded tesseract per core (OMP_THREAD_LIMIT=1, set by ocr.py) and at most
    `workers` page images in memory — however many files are in flight. Threads suffice:
    tesseract runs in its own process, and rendering and numpy preprocessing release the GIL."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"congvan-page{workers}")
        return pool


def _after_fork_in_child() -> None:
    """A forked child (process workers) inherits neither the pool's threads nor a lock's holder:
    start afresh, or its first OCR page would wait forever."""
    global _PDFIUM, _POOLS_LOCK
    _PDFIUM = threading.RLock()
    _POOLS_LOCK = threading.Lock()
    _POOLS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Pages:
    """A document's pages in order: some decided on the spot (text layer), some handed to the
    shared pool (OCR) as soon as they are known; `gather` returns them in page order."""

    def __init__(self, n: int, workers: int):
        self.results: list[Optional[Page]] = [None] * n
        self.futures: dict[int, Future] = {}
        self.pool = _page_pool(int(workers)) if int(workers) > 1 and n > 1 else None

    def put(self, i: int, page: Page) -> None:
        self.results[i] = page

    def run(self, i: int, fn: Callable[[], Page]) -> None:
        if self.pool is None:
            self.results[i] = fn()
        else:
            self.futures[i] = self.pool.submit(fn)

    def gather(self) -> list[Page]:
        for i in sorted(self.futures):
            self.results[i] = self.futures[i].result()  # the first failure (in page order) is the file's
        return self.results  # type: ignore[return-value]

    def abandon(self) -> None:
        """After a failure: pages not begun are dropped, pages being read finish before the file closes."""
        for f in self.futures.values():
            f.cancel()
        futures_wait(list(self.futures.values()))


def _run_parallel(work: Callable[[int], Page], n: int, workers: int) -> list[Page]:
    """work(i) for every page on the shared pool (inline when one worker), results in order."""
    pages = _Pages(n, workers)
    try:
        for i in range(n):
            pages.run(i, functools.partial(work, i))
        return pages.gather()
    except BaseException:
        pages.abandon()
        raise


def _ocr_or_fail(img, settings: Settings, where: str, digest: Optional[str] = None):
    """OCR one image, through the page cache; tesseract failures become a CongvanError naming the
    page. `digest`: the pixels' hash, cheaper than hashing `img` (a rendered page's bitmap)."""
    from congvan.pipeline.cache import page_cache
    from congvan.pipeline.ocr import ocr_image

    cache = page_cache(settings)
    key = None
    if cache is not None:
        try:
            key = cache.key(img, settings.ocr_lang, digest)
        except Exception as exc:  # the cache must never cost a page
            log.warning("%s: no OCR cache key (%s)", where, exc)
        if key is not None:
            hit = cache.get(key)
            # A hit never changes a file's outcome: a reading that took longer than this run's
            # per-page limit is not reused, so the limit fails the page as it would uncached.
            if hit is not None and hit.seconds <= settings.ocr_timeout:
                return hit
    try:
        res = ocr_image(img, settings.ocr_lang, timeout=settings.ocr_timeout)
    except CongvanError as exc:
        raise type(exc)(f"{where}: {exc}", stage=exc.stage) from exc
    except Exception as exc:
        raise CongvanError(f"{where}: OCR failed ({type(exc).__name__}: {exc})", stage="ocr") from exc
    if key is not None:
        cache.put(key, res)
    return res


def _ocr_page(number: int, res, reason: str, discarded_layer: str, img=None) -> Page:
    """An OCR'd page: post-corrected text; `original` keeps tesseract's raw output (ruled tables
    re-read cell by cell from the page image, see ocr_tables)."""
    from congvan.pipeline.ocr_tables import read_tables_safely
    from congvan.pipeline.postcorrect import confidences_from_tsv, postcorrect

    raw = nfc(res.text)
    if not raw.strip():
        return Page(number, "", "ocr", reason + "; nothing readable on the page (blank?)", original="",
                    ocr_confidence=None)
    words = getattr(res, "words", None)
    grid = read_tables_safely(img, res) if img is not None and words else None
    if grid is not None:
        raw, words = nfc(grid.text), grid.words
        reason += f"; {len(grid.tables)} ruled table(s) read cell by cell"
    pc = postcorrect(raw, confidences=confidences_from_tsv(words, raw) if words else None)
    if pc.changes:
        n_struct = sum(c.rule.startswith("structure:") for c in pc.changes)
        reason += f"; OCR post-correction fixed {len(pc.changes) - n_struct} words, {n_struct} numbers/dates"
    return Page(number, pc.text, "ocr", reason, original=raw, ocr_confidence=round(res.confidence, 3),
                tables=grid.corrected_tables(pc.changes) if grid is not None else [])


# --------------------------------------------------------------------------- the per-page decision
def ink_coverage(plumber_page, pdfium_page, chars: list[dict]) -> tuple[float, float]:
    """(share of rendered ink under glyph boxes, share of page area covered by glyph boxes)."""
    scale = INK_DPI / 72.0
    img = pdfium_page.render(scale=scale, grayscale=True).to_pil().convert("L")
    arr = np.asarray(img)
    ink = arr < 160
    total = int(ink.sum())
    mask = _glyph_mask(ink.shape, [c for c in chars if c["text"].strip()], scale)
    area = float(mask.mean())
    if total < 50:  # blank page: nothing to compare
        return 1.0, area
    return float((ink & mask).sum()) / total, area


def _glyph_mask(shape: tuple[int, int], chars: list[dict], scale: float) -> np.ndarray:
    """Pixels under the glyph boxes (each grown by a pixel): the union of the boxes, painted at
    once through a 2-D prefix sum of their corners instead of one slice assignment per glyph."""
    h, w = shape
    if not chars:
        return np.zeros(shape, dtype=bool)
    box = np.array([(c["x0"], c["x1"], c["top"], c["bottom"]) for c in chars], dtype=float) * scale
    if not np.isfinite(box).all():
        int(box[~np.isfinite(box)][0])  # raises as int() on that coordinate always did
    # truncates toward zero, as int() does; clipped first so absurd coordinates cannot wrap around
    # (a box that far off the page is dropped either way)
    box = np.clip(box, -1e15, 1e15).astype(np.int64)
    x0 = np.maximum(0, box[:, 0] - 1)
    x1 = np.minimum(w, box[:, 1] + 2)
    y0 = np.maximum(0, box[:, 2] - 1)
    y1 = np.minimum(h, box[:, 3] + 2)
    ok = (x1 > x0) & (y1 > y0)  # glyphs off the page (stamped widgets) would give empty boxes
    x0, x1, y0, y1 = x0[ok], x1[ok], y0[ok], y1[ok]
    corners = np.zeros((h + 1, w + 1), dtype=np.int32)
    np.add.at(corners, (y0, x0), 1)
    np.add.at(corners, (y0, x1), -1)
    np.add.at(corners, (y1, x0), -1)
    np.add.at(corners, (y1, x1), 1)
    # int32 throughout (numpy would widen to int64, 4x slower); a count never exceeds the glyph count.
    # Summed in place: no page-sized temporaries to allocate (and fault in) for each page.
    np.cumsum(corners, axis=0, out=corners)
    np.cumsum(corners, axis=1, out=corners)
    return corners[:h, :w] > 0


_SUSPECT_ANYWHERE = re.compile("[\u00a1-\u00bf]")


def _broken_fonts(chars: list[dict]) -> set[str]:
    """Fonts whose glyphs surface as stray symbols inside words (evidence of a broken ToUnicode map)."""
    fonts: set[str] = set()
    texts = [c["text"] for c in chars]
    if not _SUSPECT_ANYWHERE.search("".join(texts)):
        return fonts  # no suspect symbol on the page at all (the usual case): skip the glyph walk
    last = len(texts) - 1
    for i, t in enumerate(texts):
        if t in SUSPECTS:  # is_suspect(t), inline: this walks every glyph of a garbled page
            prev = texts[i - 1] if i else ""
            nxt = texts[i + 1] if i < last else ""
            if prev.isalpha() or nxt.isalpha():
                fonts.add(chars[i].get("fontname", ""))
    return fonts


class _FontSymbolMaps:
    """The file's symbol→letter maps: one per broken font (fonts of one family may order their
    glyphs differently), falling back, symbol by symbol, to the map learnt from all broken fonts."""

    def __init__(self, per_font: dict, whole) -> None:
        self.per_font = per_font
        self.whole = whole
        self.mapping = dict(whole.mapping) if whole is not None else {}  # any map at all

    def for_font(self, font: str) -> dict[str, str]:
        out = dict(self.mapping)
        own = self.per_font.get(font)
        if own is not None:
            out.update(own.mapping)
        return out

    def describe(self, fonts) -> str:
        merged: dict[str, str] = {}
        for f in sorted(fonts):
            merged.update(self.for_font(f))
        return " ".join(sorted(merged)) + " → " + " ".join(merged[k] for k in sorted(merged))


def _learn_document_symbol_map(plumber):
    """Symbol→letter maps per file, learnt from all broken-font text: a broken font is broken
    the same way on every page, and a short last page alone is too little evidence (Nơi/Nưi)."""
    by_font: dict[str, list[str]] = {}
    for page in plumber.pages:
        try:
            chars = page.chars
            for font in _broken_fonts(chars):
                # `page.filter(<that font's glyphs>).extract_text()`, without filtering every
                # other object of the page through a Python callback to get there
                by_font.setdefault(font, []).append(
                    _text_and_words(_View(page, [c for c in chars if c.get("fontname") == font]))[0]
                )
        except Exception:
            continue
    if not by_font:
        return None
    learnt: dict[str, object] = {}  # a file with one broken font learns the same text twice otherwise

    def learn(text: str):
        if text not in learnt:
            learnt[text] = learn_symbol_map(text)
        return learnt[text]

    whole = learn("\n".join(t for parts in by_font.values() for t in parts))
    per_font = {f: learn("\n".join(parts)) for f, parts in by_font.items()}
    return _FontSymbolMaps(per_font, whole)


_OPEN_QUOTES = ("<", '"', "\u201c")


def _repair_symbols(page, chars: list[dict], fonts: set[str], smap, grid: Optional[_Grid] = None,
                    readings: Optional[_Readings] = None):
    """Apply the file's symbol→letter maps to glyphs of the broken fonts only, and pair their quotes:
    (repaired text, map description, glyphs changed, the repaired view of the page). `readings`:
    the page as read before the repair (letters change here, never positions or blanks, so the
    words and table cells are the same glyphs)."""
    if smap is None or not smap.mapping:
        return "", "", 0, None
    maps = {f: smap.for_font(f) if hasattr(smap, "for_font") else smap.mapping for f in fonts}
    mapped = set().union(*maps.values())  # each pass below first skips the glyphs it cannot change
    n = 0
    for i, c in enumerate(chars):
        if c["text"] not in mapped:
            continue
        m = maps.get(c.get("fontname"))
        if m and c["text"] in m:
            prev = chars[i - 1]["text"] if i else ""
            nxt = chars[i + 1]["text"] if i + 1 < len(chars) else ""
            if prev.isalpha() or nxt.isalpha() or prev in m or nxt in m:
                c["text"] = m[c["text"]]
                n += 1
    # '<' … '=' drawn by the broken font as quotes: pair them in content order, inside those fonts
    # only. A '=' glued to a word also closes a quote opened by a plain '"' (“Cả nước … 2030=).
    opener = None
    for i, c in enumerate(chars):
        if (c["text"] not in _OPEN_QUOTES and c["text"] != "=") or c.get("fontname") not in fonts:
            continue
        if c["text"] in _OPEN_QUOTES and i + 1 < len(chars) and chars[i + 1]["text"].isalpha():
            opener = c
        elif c["text"] == "=" and opener is not None and i and chars[i - 1]["text"].strip():
            if opener["text"] == "<":
                opener["text"] = "\u201c"
                n += 1
            c["text"] = "\u201d"
            opener = None
            n += 1
    # Unpaired (the quote spans a page break): '<' glued to the next word, '=' glued to the previous
    # one and not to a following letter or digit, are quote marks too; a real '<'/'=' stands between
    # numbers or spaces.
    for i, c in enumerate(chars):
        if c["text"] not in ("<", "=") or c.get("fontname") not in fonts:
            continue
        prev = chars[i - 1]["text"] if i else " "
        nxt = chars[i + 1]["text"] if i + 1 < len(chars) else " "
        if c["text"] == "<" and nxt.isalpha() and not prev.strip():
            c["text"] = "\u201c"
            n += 1
        elif c["text"] == "=" and prev.strip() and not prev.isdigit() and not (nxt.isalnum()):
            c["text"] = "\u201d"
            n += 1
    # A fresh view of the same glyphs: the grid keeps the table cells it read per view, and those
    # predate the glyph edits.
    fresh = _View(page, list(page.chars))
    desc = smap.describe(fonts) if hasattr(smap, "describe") and hasattr(smap, "for_font") else smap.describe()
    return nfc(_layer_text(fresh, grid, readings)), desc, n, fresh


def _decode_legacy_spans(chars: list[dict]) -> dict[str, str]:
    """Decode TCVN3/VNI per font, in place: {font: encoding} for the fonts decoded.

    A page may mix a Unicode font (the header) with a legacy one (the body), and a legacy table
    applied to Unicode text corrupts it, so each font's text is judged on its own: the font name is
    the evidence (.VnTime → TCVN3, VNI-Times → VNI), and, for renamed or subset fonts, a decoding
    that makes that font's words Vietnamese (validity ≥ MIN_VALID_REPAIR, and better than as is).
    Glyphs are decoded by runs of one font without a space (a word), so VNI's base + mark pairs
    stay together; the decoded word goes on the run's first glyph and the rest become empty.
    """
    by_font: dict[str, list[int]] = {}
    for i, c in enumerate(chars):
        by_font.setdefault(c.get("fontname", ""), []).append(i)
    chosen: dict[str, str] = {}
    for font, idx in by_font.items():
        text = "".join(chars[i]["text"] for i in idx)
        if not any(ord(ch) > 127 for ch in text) and legacy_font_family(font) is None:
            continue  # pure ASCII under a non-legacy name: nothing a legacy table would change
        hint = legacy_font_family(font)
        spaced = _font_text(chars, idx)
        leg = best_legacy_decoding(spaced, hint)
        if leg.encoding and (leg.encoding == hint or leg.after >= MIN_VALID_REPAIR):
            chosen[font] = leg.encoding
    if not chosen:
        return chosen
    from congvan.pipeline.repair import LEGACY_DECODERS

    i = 0
    while i < len(chars):
        font = chars[i].get("fontname", "")
        if font not in chosen or not chars[i]["text"].strip():
            i += 1
            continue
        j = i
        while j + 1 < len(chars) and chars[j + 1].get("fontname", "") == font and chars[j + 1]["text"].strip() \
                and abs(chars[j + 1]["top"] - chars[i]["top"]) < 2:
            j += 1
        word = "".join(chars[k]["text"] for k in range(i, j + 1))
        decoded = LEGACY_DECODERS[chosen[font]](word)
        # A font chosen by its name is decoded whole; one chosen by content only word by word where
        # the word was not Vietnamese and becomes so (a Unicode header in the same font stays).
        if decoded != word and (legacy_font_family(font) == chosen[font]
                                or validity(decoded).score > validity(word).score):
            chars[i]["text"] = decoded
            chars[i]["x1"] = chars[j]["x1"]  # the merged glyph covers the word: spacing stays right
            for k in range(i + 1, j + 1):
                chars[k]["text"] = ""
        i = j + 1
    return chosen


def _font_text(chars: list[dict], idx: list[int]) -> str:
    """One font's glyphs as text, a space where consecutive glyphs are not adjacent."""
    out = []
    for a, b in zip(idx, idx[1:] + [None]):
        out.append(chars[a]["text"])
        if b is not None and (b != a + 1 or abs(chars[b]["top"] - chars[a]["top"]) >= 2
                              or chars[b]["x0"] - chars[a]["x1"] > 1.5):
            out.append(" ")
    return "".join(out)


MIN_GUTTER = 8.0  # points of blank between two header columns, common to every line of the block
# (the 002 header's common strip is ~10 pt; a justified body line's widest space measured 8 pt,
# hence also HEADER_TOP and the need for two lines split at the same place)
HEADER_TOP = 0.40  # only blocks starting in this top share of the page: the header, not the signature


class _Readings:
    """What was read of each set of glyphs on one page (its words, its table cells' texts), for
    reading the same glyphs again after some of their letters changed.

    pdfplumber's WordExtractor groups glyphs into words by their positions and by which glyphs are
    blank or empty, never by their letters. The symbol repair changes letters only (a stray symbol
    becomes a letter or a quote mark), so the repaired page, and each band of it, is made of the
    words of the raw reading: grouping (line clustering, sorting, word splitting), most of the cost
    of a reading, is not done again, and only the words holding a changed glyph are merged again;
    likewise only the table cells holding a changed glyph are read again. Keyed by the glyph dicts
    themselves (kept alive here, so their ids stay theirs). Not for the legacy decoding, which
    moves glyph edges and empties glyphs."""

    def __init__(self) -> None:
        # glyph ids → (the glyphs, [(word, its glyphs, their letters when it was merged)])
        self._words: dict[tuple, tuple[list, list]] = {}
        # (glyph ids, settings) → (the glyphs, their letters when read, the text read)
        self._cells: dict[tuple, tuple[list, list, str]] = {}

    def wordmap(self, chars: list):
        """`WordExtractor().extract_wordmap(chars)`, grouped once per set of glyphs."""
        from pdfplumber.utils.text import WordExtractor, WordMap

        extractor = WordExtractor()
        key = tuple(map(id, chars))
        seen = self._words.get(key)
        if seen is not None:
            return WordMap([(word if [c["text"] for c in glyphs] == letters else extractor.merge_chars(glyphs), glyphs)
                            for word, glyphs, letters in seen[1]])
        wordmap = extractor.extract_wordmap(chars)
        self._words[key] = (chars, [(word, glyphs, [c["text"] for c in glyphs]) for word, glyphs in wordmap.tuples])
        return wordmap

    def cell_text(self, glyphs: list, settings: dict) -> str:
        """`extract_text(glyphs, **settings)` of a table cell, read again only if a letter changed."""
        from pdfplumber.utils.text import extract_text

        key = (tuple(map(id, glyphs)), tuple(sorted(settings.items())))
        letters = [c["text"] for c in glyphs]
        seen = self._cells.get(key)
        if seen is None or seen[1] != letters:
            seen = self._cells[key] = (glyphs, letters, extract_text(glyphs, **settings))
        return seen[2]


def _text_and_words(page, readings: Optional[_Readings] = None) -> tuple[str, list[dict]]:
    """(`page.extract_text()`, `page.extract_words()`) from one word clustering of the page's glyphs.

    Both run pdfplumber's WordExtractor with its defaults over the same glyphs; `extract_text` then
    lays the words out as `Page.get_textmap` does. Clustering once halves the cost. `readings`: what
    was read of these glyphs before (see `_Readings`)."""
    from pdfplumber.utils.text import WordExtractor

    wordmap = readings.wordmap(page.chars) if readings is not None else WordExtractor().extract_wordmap(page.chars)
    textmap = wordmap.to_textmap(layout_bbox=page.bbox, layout_width=page.width, layout_height=page.height,
                                 presorted=True)
    return textmap.as_string or "", [w for w, _ in wordmap.tuples]


def _read_columns(page, readings: Optional[_Readings] = None) -> str:
    """`extract_text`, except that the header's two-column block (issuer | national motto, number |
    place and date) is read column by column, left then right, as written, instead of line by line
    straight across both columns. The signature block (Nơi nhận | signer) is left as pdfplumber
    reads it: the distribution and signer extractors were measured worse on its column order.

    A block is a run of lines that all leave one common vertical strip blank (≥ MIN_GUTTER points,
    in the middle half of the page), from its first to its last line with words on both sides of
    the strip, with at least two such lines.
    Pages without such a block come out exactly as `extract_text` gives them.
    """
    text, words = _text_and_words(page, readings)
    if len(words) < 4:
        return text
    lines: list[list[dict]] = []
    for w in sorted(words, key=lambda w: (round(w["top"], 1), w["x0"])):
        if lines and abs(w["top"] - lines[-1][0]["top"]) <= 3:
            lines[-1].append(w)
        else:
            lines.append([w])
    for ln in lines:
        ln.sort(key=lambda w: w["x0"])
    x_lo, x_hi = float(page.bbox[0]), float(page.bbox[2])
    mid_lo, mid_hi = x_lo + 0.25 * (x_hi - x_lo), x_lo + 0.75 * (x_hi - x_lo)

    def free(ln) -> list[tuple[float, float]]:
        """Blank x-intervals of a line inside the middle half of the page."""
        out, x = [], mid_lo
        for w in ln:
            if w["x1"] <= x:
                continue
            if w["x0"] > x:
                out.append((x, min(w["x0"], mid_hi)))
            x = max(x, w["x1"])
            if x >= mid_hi:
                break
        if x < mid_hi:
            out.append((x, mid_hi))
        return [(a, b) for a, b in out if b - a >= MIN_GUTTER]

    def meet(a, b):
        return [(max(p, r), min(q, t)) for p, q in a for r, t in b if min(q, t) - max(p, r) >= MIN_GUTTER]

    def split(ln, gap) -> bool:
        return any(w["x1"] <= gap[0] for w in ln) and any(w["x0"] >= gap[1] for w in ln)

    out, i, changed = [], 0, False
    while i < len(lines):
        gaps, j = free(lines[i]), i
        while gaps and j + 1 < len(lines):
            nxt = meet(gaps, free(lines[j + 1]))
            if not nxt:
                break
            gaps, j = nxt, j + 1
        gap = max(gaps, key=lambda g: g[1] - g[0]) if gaps else None
        if gap:  # the block ends at its last line with words on both sides: a one-sided line after
            while j > i and not split(lines[j], gap):  # it ("Kính gửi:", the rest of the subject)
                j -= 1  # may as well be the body's start, and is read after both columns
        block = lines[i:j + 1]
        in_header = lines[i][0]["top"] < page.bbox[1] + HEADER_TOP * (page.bbox[3] - page.bbox[1])
        if gap and in_header and sum(split(ln, gap) for ln in block) >= 2:
            cut = (gap[0] + gap[1]) / 2
            for side in (lambda w: w["x1"] <= cut, lambda w: w["x0"] >= cut):
                for ln in block:
                    part = [w["text"] for w in ln if side(w)]
                    if part:
                        out.append(" ".join(part))
            changed, i = True, j + 1
        else:
            out.append(" ".join(w["text"] for w in lines[i]))
            i += 1
    return "\n".join(out) if changed else text


class _Grid:
    """A page's ruled tables, found once and read once per view of the page.

    pdfplumber's table finder (line strategies) works from the page's rules only, and every view
    the decision reads (hidden blanks dropped, glyphs repaired or decoded, a band of the page)
    filters glyphs only, so the cells found on the page hold for all of them; a table's cell texts
    are read from the glyphs of the view it is read on. Find or read failures surface where the
    plain calls would have raised them."""

    def __init__(self, page):
        try:
            self.cells: Optional[list] = [t.cells for t in page.find_tables()]
            self.error: Optional[Exception] = None
        except Exception as exc:
            self.cells, self.error = None, exc
        self._read: dict[int, tuple[object, dict[int, list]]] = {}  # id(view) → (view, {table: rows})

    def tables(self, view) -> list:
        """The tables as `view.find_tables()` would give them."""
        from pdfplumber.table import Table

        if self.error is not None:
            raise self.error
        return [Table(view, cells) for cells in self.cells]

    def rows(self, view, i: int, table=None, readings: Optional[_Readings] = None) -> list:
        """`extract()` of table i on `view` (pdfplumber's default text settings, as `extract_tables`);
        `readings`: see `_Readings`."""
        from pdfplumber.table import Table, TableSettings

        _, done = self._read.setdefault(id(view), (view, {}))
        if i not in done:
            t = table if table is not None else self.tables(view)[i]
            settings = TableSettings.resolve(None).text_settings or {}
            if "layout" in settings:  # sized per cell by Table.extract: let it read the table
                done[i] = Table(view, t.cells).extract(**settings)
            else:
                done[i] = _read_table(t, view.chars, settings, readings)
        return done[i]


def _read_table(table, chars: list, settings: dict, readings: Optional[_Readings] = None) -> list:
    """`table.extract(**settings)` (settings without "layout"), each glyph's middle worked out once.

    pdfplumber's Table.extract recomputes a glyph's middle, through a function call, for every row
    of the table and again for every cell of its row; here the same tests (middle in [x0, x1) and
    [top, bottom)) run on middles computed once, first on the table's box, which holds every row."""
    from pdfplumber.utils.text import extract_text

    x0, top, x1, bottom = table.bbox
    mids = []
    for c in chars:
        v, h = (c["top"] + c["bottom"]) / 2, (c["x0"] + c["x1"]) / 2
        if x0 <= h < x1 and top <= v < bottom:
            mids.append((v, h, c))
    out = []
    for row in table.rows:
        rx0, rtop, rx1, rbottom = row.bbox
        row_mids = [m for m in mids if rx0 <= m[1] < rx1 and rtop <= m[0] < rbottom]
        cells: list[Optional[str]] = []
        for cell in row.cells:
            if cell is None:
                cells.append(None)
                continue
            cx0, ctop, cx1, cbottom = cell
            inside = [c for v, h, c in row_mids if cx0 <= h < cx1 and ctop <= v < cbottom]
            if not inside:
                cells.append("")
            elif readings is not None:
                cells.append(readings.cell_text(inside, settings))
            else:
                cells.append(extract_text(inside, **settings))
        out.append(cells)
    return out


class _View:
    """Some of a page's glyphs, read as the page: all that `_layer_text`, `_read_columns` and
    `_tables` read of a view (its glyphs, the page's box and number). `page.filter` gives the same
    glyphs but runs its test, in Python, on every object of the page (rules and images included)."""

    def __init__(self, page, chars: list):
        self.chars = chars
        self.bbox = page.bbox
        self.width = page.width
        self.height = page.height
        self.page_number = page.page_number


def _layer_text(page, grid: Optional[_Grid] = None, readings: Optional[_Readings] = None) -> str:
    """The page's text in reading order, ruled tables read row by row with cells joined by tabs.

    pdfplumber's `extract_text` reads every line straight across the page, so a task table's cells
    come out interleaved ("Sở Nội vụ (Ban Thi Các cụm, khối thi đua, …"); a reader, the gold texts
    and the task extractor's tab-line reader take a table row by row, cell by cell. Text beside a
    table (outside its columns) follows the table. `grid`: the page's tables when already found;
    `readings`: see `_Readings`.
    """
    grid = grid or _Grid(page)
    try:
        found = [(i, t) for i, t in enumerate(grid.tables(page))
                 if len(t.rows) >= 2 and max(len(r.cells) for r in t.rows) >= 2]
    except Exception as exc:  # the table finder must never lose the page's text
        log.warning("table finder failed on page %s: %s", page.page_number, exc)
        found = []
    if not found:
        return _read_columns(page, readings)
    found.sort(key=lambda it: it[1].bbox[1])
    chars = page.chars
    mids = [((c["top"] + c["bottom"]) / 2, (c["x0"] + c["x1"]) / 2) for c in chars]  # once, for every band

    def band(y0, y1, keep=lambda x: True) -> str:
        """The glyphs whose middle is in [y0, y1) (and whose middle x `keep` accepts), read."""
        sub = [c for c, (my, mx) in zip(chars, mids) if y0 <= my < y1 and keep(mx)]
        return _read_columns(_View(page, sub), readings)

    parts, y = [], float(page.bbox[1])
    for i, t in found:
        x0, top, x1, bottom = t.bbox
        if top < y:  # overlapping tables: keep the first one's reading
            continue
        parts.append(band(y, top))
        rows = ["\t".join(" ".join((cell or "").split()) for cell in row) for row in grid.rows(page, i, t, readings)]
        parts.append("\n".join(r for r in rows if r.strip()))
        parts.append(band(top, bottom, lambda x, a=x0, b=x1: x < a or x > b))
        y = bottom
    parts.append(band(y, float(page.bbox[3]) + 1))
    return "\n".join(p for p in parts if p.strip())


def _decide_layer(page, pdfium_page, number: int, smap=None) -> _LayerDecision:
    page = _without_hidden_spaces(page)
    chars = page.chars
    visible = [c for c in chars if c["text"].strip()]
    if not visible:
        return _LayerDecision(None, "no text layer", "")
    grid = _Grid(page)
    readings = _Readings() if smap is not None else None  # the raw reading, for the symbol repair's
    raw = nfc(_layer_text(page, grid, readings))
    if not raw.strip():
        return _LayerDecision(None, "no text layer", "")

    coverage, area = ink_coverage(page, pdfium_page, visible)
    page_area = float(page.width * page.height) or 1.0
    big_image = any(
        (im["x1"] - im["x0"]) * (im["bottom"] - im["top"]) > 0.5 * page_area for im in page.images
    )
    if coverage < MIN_INK_COVERAGE or (big_image and area < MIN_GLYPH_AREA_ON_IMAGE):
        first = raw.strip().splitlines()[0][:40]
        what = "a full-page image" if big_image else "the page"
        return _LayerDecision(
            None,
            f"text layer covers {coverage:.0%} of the page's ink and {area:.1%} of {what} "
            f"({len(visible)} chars: \"{first}\"): OCR",
            raw,
        )

    v = validity(raw)
    fonts = {c.get("fontname", "") for c in visible}
    legacy = {legacy_font_family(f) for f in fonts} - {None}
    broken = _broken_fonts(chars)
    saved = [(c["text"], c["x1"]) for c in chars]

    def restore() -> None:
        for c, (t, x1) in zip(chars, saved):
            c["text"], c["x1"] = t, x1

    if broken:
        fixed, desc, n, fresh = _repair_symbols(page, chars, broken, smap, grid, readings)
        if fixed:
            v2 = validity(fixed)
            if v2.score >= MIN_VALID_REPAIR and v2.score >= v.score:
                return _LayerDecision(
                    Page(number, fixed, "repaired_layer",
                         f"broken font map repaired ({desc}, {n} chars; validity {v} → {v2})",
                         original=raw, tables=_tables(fresh, grid, readings)),
                    "", raw)
            restore()
    if legacy or v.score < MIN_VALID_LAYER:
        chosen = _decode_legacy_spans(chars)
        if chosen:
            view = _View(page, [c for c in chars if c["text"] != ""])
            fixed = nfc(_layer_text(view, grid))
            v2 = validity(fixed)
            named = all(legacy_font_family(f) == e for f, e in chosen.items())
            if v2.score >= MIN_VALID_REPAIR and (v2.score > v.score or (named and v2.score >= v.score)):
                runs = ", ".join(f"{f.split('+', 1)[-1]}: {e}" for f, e in sorted(chosen.items()))
                return _LayerDecision(
                    Page(number, fixed, "repaired_layer",
                         f"legacy font text decoded per font ({runs}; validity {v} → {v2})",
                         original=raw, tables=_tables(view, grid)),
                    "", raw)
            restore()
        hint = next(iter(legacy)) if len(legacy) == 1 else None
        leg = best_legacy_decoding(raw, hint)
        if leg.encoding and leg.after >= MIN_VALID_REPAIR:
            return _LayerDecision(
                Page(number, leg.text, "repaired_layer",
                     f"legacy {leg.encoding} font text decoded on the whole page (validity {leg.before:.2f} → {leg.after:.2f})",
                     original=raw, tables=[[[leg_cell(c, leg.encoding) for c in row] for row in t] for t in _tables(page, grid)]),
                "", raw)
    if v.score >= MIN_VALID_LAYER:
        return _LayerDecision(Page(number, raw, "text_layer",
                                   f"text layer reads as Vietnamese (validity {v}, covers {coverage:.0%} of ink)",
                                   tables=_tables(page, grid)), "", raw)
    return _LayerDecision(None, f"text layer is not Vietnamese (validity {v}, e.g. {' '.join(v.bad[:3])}): OCR", raw)


def leg_cell(cell, encoding: str):
    """A table cell decoded with the page's legacy table (None stays None)."""
    from congvan.pipeline.repair import LEGACY_DECODERS

    return LEGACY_DECODERS[encoding](cell) if cell else cell


def _tables(page, grid: Optional[_Grid] = None, readings: Optional[_Readings] = None) -> list:
    """`page.extract_tables()`, NFC; `grid`: the page's tables when already found (and read);
    `readings`: see `_Readings`."""
    grid = grid or _Grid(page)
    try:
        return [[[nfc(c) if c else c for c in row] for row in grid.rows(page, i, t, readings)]
                for i, t in enumerate(grid.tables(page))]
    except Exception as exc:  # a table-finder failure must not lose the page's text
        log.warning("table extraction failed on page %s: %s", page.page_number, exc)
        return []
