"""File → pages of text: open safely, then per page use the text layer, repair it, or OCR.

Like OCRmyPDF's skip/redo decision, but per page and by evidence: a text layer is used only
when it is the page's real text (it covers the page's ink) and reads as Vietnamese
(`quality.validity`); a legacy-font or broken-ToUnicode layer is repaired when the repair
scores well; anything else (no layer, a one-line "SAO Y" stamp over a scan, old mojibake
OCR) is OCR'd. PDFs are only parsed and rendered, never executed (no JS, no attachments).
"""
from __future__ import annotations

import hashlib
import io
import logging
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
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
from congvan.pipeline.quality import validity
from congvan.pipeline.repair import (
    best_legacy_decoding,
    is_suspect,
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
def _open_image_frames(path: Path, settings: Settings) -> list:
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = settings.max_pixels  # PIL raises DecompressionBombError at 2x this
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            n = getattr(img, "n_frames", 1)
            if n > settings.max_pages:
                raise LimitExceeded(f"{path.name} has {n} pages, over the limit max_pages={settings.max_pages}")
            frames = []
            for i, frame in enumerate(ImageSequence.Iterator(img)):
                w, h = frame.size
                if w * h > settings.max_pixels:
                    raise LimitExceeded(
                        f"{path.name} page {i + 1} is {w}x{h} = {w * h:,} pixels, over the limit max_pixels={settings.max_pixels:,}"
                    )
                frame.load()
                frames.append(frame.copy())
            return frames
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise LimitExceeded(f"{path.name} is a decompression bomb: {exc} (limit max_pixels={settings.max_pixels:,})") from exc
    except CongvanError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptInput(f"{path.name} is a damaged or truncated image: {exc}") from exc


def _acquire_image(path: Path, settings: Settings) -> list[Page]:
    frames = _open_image_frames(path, settings)

    def work(i: int) -> Page:
        res = _ocr_or_fail(frames[i], settings, f"{path.name} page {i + 1}")
        return _ocr_page(i + 1, res, "scan image, no text layer", "")

    return _run_parallel(work, len(frames), settings.workers)


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
        if "password" in msg.lower():
            raise EncryptedInput(f"{path.name} is password-protected; we do not guess passwords") from exc
        raise CorruptInput(f"{path.name} cannot be opened as a PDF ({msg.split('(', 1)[-1].rstrip(').')})") from exc


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
    """Drop space glyphs lying under real glyphs (blank placeholders that a stamped number overprints)."""
    chars = page.chars
    vis = [c for c in chars if c["text"].strip()]
    if not vis or len(vis) == len(chars):
        return page
    x0 = np.array([c["x0"] for c in vis])
    x1 = np.array([c["x1"] for c in vis])
    mid = np.array([(c["top"] + c["bottom"]) / 2 for c in vis])
    hidden = set()
    for c in chars:
        if c["text"].strip():
            continue
        w = max(c["x1"] - c["x0"], 0.1)
        cm = (c["top"] + c["bottom"]) / 2
        same_line = np.abs(mid - cm) < max(c["bottom"] - c["top"], 1.0) / 2
        overlap = np.minimum(x1, c["x1"]) - np.maximum(x0, c["x0"])
        if np.any(same_line & (overlap > 0.5 * w)):
            hidden.add(id(c))
    if not hidden:
        return page
    return page.filter(lambda o: id(o) not in hidden)


@dataclass
class _LayerDecision:
    page: Optional[Page]  # decided page, or None → OCR
    reason: str
    original: str


def _acquire_pdf(path: Path, settings: Settings) -> list[Page]:
    import pdfplumber

    pdf_doc = _open_pdfium(path)
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
    if source is not None:  # reopen the flattened copy so both libraries see the same page content
        pdf_doc.close()
        import pypdfium2 as pdfium

        pdf_doc = pdfium.PdfDocument(source.getvalue())
        source.seek(0)
    try:
        plumber = pdfplumber.open(source if source is not None else path)
    except Exception as exc:  # pdfminer raises many types for broken files
        if "password" in repr(exc).lower() or "encrypt" in repr(exc).lower():
            raise EncryptedInput(f"{path.name} is password-protected; we do not guess passwords") from exc
        raise CorruptInput(f"{path.name} cannot be parsed as a PDF: {type(exc).__name__}: {exc}") from exc

    lock = threading.Lock()  # pdfium and pdfplumber are not thread-safe
    decisions: list[_LayerDecision] = []
    try:
        smap = _learn_document_symbol_map(plumber)
        for i in range(n):
            try:
                decisions.append(_decide_layer(plumber.pages[i], pdf_doc[i], i + 1, smap))
            except CongvanError:
                raise
            except Exception as exc:
                log.warning("page %d text layer unreadable: %s", i + 1, exc)
                decisions.append(_LayerDecision(None, f"text layer unreadable ({type(exc).__name__}): OCR", ""))
    finally:
        plumber.close()

    def work(i: int) -> Page:
        d = decisions[i]
        if d.page is not None:
            return d.page
        try:
            with lock:
                img = pdf_doc[i].render(scale=scale).to_pil()
        except Exception as exc:
            raise CorruptInput(f"{path.name} page {i + 1} cannot be rendered: {exc}") from exc
        res = _ocr_or_fail(img, settings, f"{path.name} page {i + 1}")
        return _ocr_page(i + 1, res, d.reason, d.original)

    try:
        return _run_parallel(work, n, settings.workers)
    finally:
        pdf_doc.close()


def _ocr_or_fail(img, settings: Settings, where: str):
    """OCR one image; tesseract failures become a CongvanError that names the page."""
    from congvan.pipeline.ocr import ocr_image

    try:
        return ocr_image(img, settings.ocr_lang, timeout=settings.ocr_timeout)
    except CongvanError as exc:
        raise type(exc)(f"{where}: {exc}", stage=exc.stage) from exc
    except Exception as exc:
        raise CongvanError(f"{where}: OCR failed ({type(exc).__name__}: {exc})", stage="ocr") from exc


def _ocr_page(number: int, res, reason: str, discarded_layer: str) -> Page:
    """An OCR'd page: post-corrected text; `original` keeps tesseract's raw output."""
    from congvan.pipeline.repair import postcorrect_ocr

    raw = nfc(res.text)
    if not raw.strip():
        return Page(number, "", "ocr", reason + "; nothing readable on the page (blank?)", original="",
                    ocr_confidence=None)
    pc = postcorrect_ocr(raw)
    if pc.words or pc.structure:
        reason += f"; OCR post-correction fixed {pc.words} words, {pc.structure} numbers/dates"
    return Page(number, pc.text, "ocr", reason, original=raw, ocr_confidence=round(res.confidence, 3))


def _run_parallel(work: Callable[[int], Page], n: int, workers: int) -> list[Page]:
    """Pages in parallel (tesseract runs in its own process, so threads suffice), results in order."""
    if n <= 1 or workers <= 1:
        return [work(i) for i in range(n)]
    with ThreadPoolExecutor(max_workers=min(workers, n)) as ex:
        return list(ex.map(work, range(n)))


# --------------------------------------------------------------------------- the per-page decision
def ink_coverage(plumber_page, pdfium_page, chars: list[dict]) -> tuple[float, float]:
    """(share of rendered ink under glyph boxes, share of page area covered by glyph boxes)."""
    scale = INK_DPI / 72.0
    img = pdfium_page.render(scale=scale, grayscale=True).to_pil().convert("L")
    arr = np.asarray(img)
    ink = arr < 160
    total = int(ink.sum())
    mask = np.zeros_like(ink)
    h, w = mask.shape
    for c in chars:
        if not c["text"].strip():
            continue
        x0 = max(0, int(c["x0"] * scale) - 1)
        x1 = min(w, int(c["x1"] * scale) + 2)
        y0 = max(0, int(c["top"] * scale) - 1)
        y1 = min(h, int(c["bottom"] * scale) + 2)
        if x1 > x0 and y1 > y0:  # glyphs off the page (stamped widgets) would wrap negative slices
            mask[y0:y1, x0:x1] = True
    area = float(mask.mean())
    if total < 50:  # blank page: nothing to compare
        return 1.0, area
    return float((ink & mask).sum()) / total, area


def _broken_fonts(chars: list[dict]) -> set[str]:
    """Fonts whose glyphs surface as stray symbols inside words (evidence of a broken ToUnicode map)."""
    fonts: set[str] = set()
    for i, c in enumerate(chars):
        if is_suspect(c["text"]):
            prev = chars[i - 1]["text"] if i else ""
            nxt = chars[i + 1]["text"] if i + 1 < len(chars) else ""
            if prev.isalpha() or nxt.isalpha():
                fonts.add(c.get("fontname", ""))
    return fonts


def _learn_document_symbol_map(plumber):
    """One symbol→letter map per file, learnt from all broken-font text: a broken font is broken
    the same way on every page, and a short last page alone is too little evidence (Nơi/Nưi)."""
    parts = []
    for page in plumber.pages:
        try:
            fonts = _broken_fonts(page.chars)
            if fonts:
                parts.append(
                    page.filter(lambda o: o.get("object_type") != "char" or o.get("fontname") in fonts).extract_text()
                )
        except Exception:
            continue
    return learn_symbol_map("\n".join(parts)) if parts else None


def _repair_symbols(page, chars: list[dict], fonts: set[str], smap) -> tuple[str, str, int]:
    """Apply the file's symbol→letter map to glyphs of the broken fonts only, and pair their quotes."""
    if smap is None or not smap.mapping:
        return "", "", 0
    n = 0
    for i, c in enumerate(chars):
        if c.get("fontname") in fonts and c["text"] in smap.mapping:
            prev = chars[i - 1]["text"] if i else ""
            nxt = chars[i + 1]["text"] if i + 1 < len(chars) else ""
            if prev.isalpha() or nxt.isalpha() or prev in smap.mapping or nxt in smap.mapping:
                c["text"] = smap.mapping[c["text"]]
                n += 1
    # '<' … '=' drawn by the broken font as quotes: pair them in content order, inside those fonts only.
    opener = None
    for i, c in enumerate(chars):
        if c.get("fontname") not in fonts:
            continue
        if c["text"] == "<" and i + 1 < len(chars) and chars[i + 1]["text"].isalpha():
            opener = c
        elif c["text"] == "=" and opener is not None and i and chars[i - 1]["text"].strip():
            opener["text"], c["text"] = "\u201c", "\u201d"
            opener = None
            n += 2
    # A fresh filtered view: the page caches its text map, which predates the glyph edits.
    text = page.filter(lambda o: True).extract_text() or ""
    return nfc(text), smap.describe(), n


def _decide_layer(page, pdfium_page, number: int, smap=None) -> _LayerDecision:
    page = _without_hidden_spaces(page)
    chars = page.chars
    visible = [c for c in chars if c["text"].strip()]
    if not visible:
        return _LayerDecision(None, "no text layer", "")
    raw = nfc(page.extract_text() or "")
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
    tables = _tables(page)

    if broken:
        fixed, desc, n = _repair_symbols(page, chars, broken, smap)
        if fixed:
            v2 = validity(fixed)
            if v2.score >= MIN_VALID_REPAIR and v2.score >= v.score:
                return _LayerDecision(
                    Page(number, fixed, "repaired_layer",
                         f"broken font map repaired ({desc}, {n} chars; validity {v} → {v2})",
                         original=raw, tables=tables),
                    "", raw)
    if legacy or v.score < MIN_VALID_LAYER:
        hint = next(iter(legacy)) if len(legacy) == 1 else None
        leg = best_legacy_decoding(raw, hint)
        if leg.encoding and leg.after >= MIN_VALID_REPAIR:
            return _LayerDecision(
                Page(number, leg.text, "repaired_layer",
                     f"legacy {leg.encoding} font text decoded (validity {leg.before:.2f} → {leg.after:.2f})",
                     original=raw, tables=tables),
                "", raw)
    if v.score >= MIN_VALID_LAYER:
        return _LayerDecision(Page(number, raw, "text_layer",
                                   f"text layer reads as Vietnamese (validity {v}, covers {coverage:.0%} of ink)",
                                   tables=tables), "", raw)
    return _LayerDecision(None, f"text layer is not Vietnamese (validity {v}, e.g. {' '.join(v.bad[:3])}): OCR", raw)


def _tables(page) -> list:
    try:
        return [[[nfc(c) if c else c for c in row] for row in t] for t in page.extract_tables()]
    except Exception as exc:  # a table-finder failure must not lose the page's text
        log.warning("table extraction failed on page %s: %s", page.page_number, exc)
        return []
