"""Page images → text with tesseract: render, clean, deskew, OCR with word confidences.

Grey comes from the red channel: red seals and "ĐẾN" stamps become near-white while black print
stays black. (Blue ink is *not* lightened by the red channel — blue has little red; the "maxrb"
channel lightens both, but measured no better.) Small skews (< 2°) are left to tesseract: rotating
them first made CER worse. One tesseract thread per page (OMP_THREAD_LIMIT=1) and pages in
parallel beat one page with many threads on small machines.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from PIL import Image

from congvan.pipeline.errors import LimitExceeded
from congvan.pipeline.limits import ocr_slot

# Tesseract's own OpenMP threads fight our page-level parallelism: one thread per process.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Measured (bench_ocr, samples/): psm 3 and 4 read two-column headers identically (lines across both
# columns, like pdfplumber); on the scan with a task table psm 3 lost cells (bag-CER 0.152 vs 0.026);
# psm 6 pulls stamp and signature strokes into text lines.
DEFAULT_PSM = 4


@dataclass
class OcrResult:
    text: str
    confidence: float  # mean word confidence, 0–1
    seconds: float
    angle: float = 0.0
    rotated: int = 0
    words: Optional[dict] = None  # tesseract's image_to_data dict behind `text` (word confidences for post-correction)


def to_grey(img: Image.Image, channel: str = "red") -> Image.Image:
    """Grey image from the red channel (stamps and blue signatures fade) or plain luminance."""
    if img.mode in ("1", "L", "I;16", "I"):
        return img.convert("L")
    rgb = img if img.mode == "RGB" else img.convert("RGB")  # convert() copies even an RGB page (~20 ms)
    if channel == "red":
        return rgb.getchannel("R")
    if channel == "maxrb":  # red stamps (R high) and blue ink (B high) both turn light; black stays black
        r, _, b = rgb.split()
        return Image.fromarray(np.maximum(np.asarray(r), np.asarray(b)))
    return rgb.convert("L")


DESKEW_MIN_ANGLE = 2.0  # measured: rotating 1–1.5° skews first made CER worse (tesseract copes; resampling blurs)


def estimate_skew(grey: Image.Image, max_angle: float = 6.0, step: float = 0.25) -> float:
    """Skew in degrees by projection-profile sharpness on a small copy (cheap; no OSD)."""
    small = grey.copy()
    small.thumbnail((800, 800))
    arr = np.asarray(small, dtype=np.uint8)
    ink = (arr < 128).astype(np.uint8) * 255
    if ink.mean() < 0.5:  # blank page
        return 0.0
    im = Image.fromarray(ink)
    best, best_score = 0.0, -1.0
    for a in np.arange(-max_angle, max_angle + 1e-9, step):
        rot = np.asarray(im.rotate(float(a), resample=Image.NEAREST, fillcolor=0), dtype=np.float32)
        prof = rot.sum(axis=1)
        score = float(np.var(np.diff(prof)))
        if score > best_score:
            best, best_score = float(a), score
    return best


def _blank_fraction(ink: np.ndarray, axis: int) -> float:
    """Share of (nearly) ink-free lines across the inked extent of a projection profile."""
    prof = ink.sum(axis=axis)
    nz = np.flatnonzero(prof)
    if len(nz) < 2:
        return 0.0
    seg = prof[nz[0]:nz[-1] + 1]
    return float((seg <= 0.01 * seg.max()).mean())


def looks_sideways(grey: Image.Image) -> bool:
    """Text lines run vertically: blank gaps between lines show up in the column profile, not the row one.

    Horizontal text leaves ink-free rows between lines (8-70 % of the inked height on samples/) and
    almost no ink-free columns, because words of different lines overlap every column; a page turned
    by 90 degrees swaps the two. The margin keeps two-column and tabular pages (both profiles gappy:
    004-harsh p2 rows 0.12 / cols 0.20) upright. The variance test this replaces fired on upright
    pages (002-scan p1) and missed turned ones, costing a 2.6 s OSD pass on a page read at 0.96.
    """
    small = grey.copy()
    small.thumbnail((1200, 1200))
    ink = np.asarray(small, dtype=np.uint8) < 128
    if ink.mean() < 0.002:
        return False
    rows = _blank_fraction(ink, 1)
    cols = _blank_fraction(ink, 0)
    return cols >= 2 * rows + 0.05


def preprocess(img: Image.Image, channel: str = "red", deskew: bool = True,
               median: bool = False) -> tuple[Image.Image, float]:
    """Grey (red channel), optional median-3 denoise, deskew; returns the image and the angle applied.

    No denoise or binarisation by default, by measurement (samples/, tesseract 5.3 vie, 300 dpi):
    median 3 raised CER on the mild scans (003-scan.tiff p1 0.39 → 0.73 %, p2 0.31 → 0.73 %; tesseract
    confidence fell too) and was a wash on the speckled harsh scan (p1 4.41 → 4.45, p2 3.11 → 3.18,
    p3 4.37 → 4.09); Otsu binarisation was worse everywhere on the blurred harsh scan (p1 4.4 → 6.4 %,
    p2 3.1 → 4.0, p3 4.4 → 5.8): tesseract's own thresholding of a grey image does better.
    """
    import cv2

    out = to_grey(img, channel)
    if median:
        out = Image.fromarray(cv2.medianBlur(np.asarray(out, dtype=np.uint8), 3))
    angle = 0.0
    if deskew:
        angle = estimate_skew(out)
        if abs(angle) >= DESKEW_MIN_ANGLE:
            out = out.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
        else:
            angle = 0.0
    return out, angle


def _tsv_to_text(data: dict) -> tuple[str, float]:
    """Lines in tesseract's reading order (block → paragraph → line); blank line between blocks."""
    lines: list[str] = []
    confs: list[float] = []
    cur_key = None
    cur_block = None
    words: list[str] = []
    n = len(data["text"])
    for i in range(n):
        word = (data["text"][i] or "").strip()
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            conf = -1
        if not word or conf < 0:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if key != cur_key:
            if words:
                lines.append(" ".join(words))
            if cur_block is not None and (key[0], key[1]) != cur_block:
                lines.append("")
            words = []
            cur_key = key
            cur_block = (key[0], key[1])
        words.append(word)
        confs.append(conf)
    if words:
        lines.append(" ".join(words))
    text = "\n".join(lines).strip()
    return text, (sum(confs) / len(confs) / 100.0 if confs else 0.0)


@contextmanager
def _as_ppm(img: Image.Image):
    """The image marked for pytesseract to hand to tesseract as PPM/PGM, not PNG.

    pytesseract writes its temporary file in `image.format`, PNG when unset; zlib-encoding a 300 dpi
    page took ~1.0 s (against 2.6 s of tesseract), writing PPM ~2 ms, and tesseract reads the same
    pixels, so the words are the same. The caller's `format` is restored afterwards.
    """
    if img.mode not in ("1", "L", "RGB", "RGBA", "LA"):  # PPM holds 1/L/RGB; pytesseract flattens alpha
        img = img.convert("RGB")
    old = img.format
    img.format = "PPM"
    try:
        yield img
    finally:
        img.format = old


def tesseract_words(img: Image.Image, lang: str, psm: int, timeout: float) -> dict:
    import pytesseract

    try:
        with ocr_slot(), _as_ppm(img) as raw:
            return pytesseract.image_to_data(
                raw, lang=lang, config=f"--psm {psm}", output_type=pytesseract.Output.DICT, timeout=timeout
            )
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise LimitExceeded(
                f"OCR took longer than the per-page limit ocr_timeout={timeout:g}s", stage="ocr"
            ) from exc
        raise


def detect_orientation(img: Image.Image, timeout: float) -> int:
    """Rotation tesseract OSD (--psm 0) recommends, in degrees; 0 when unsure."""
    import pytesseract

    try:
        with ocr_slot(), _as_ppm(img) as raw:
            osd = pytesseract.image_to_osd(raw, config="--psm 0", output_type=pytesseract.Output.DICT, timeout=timeout)
    except Exception:
        return 0
    if float(osd.get("orientation_conf", 0)) < 2.0:
        return 0
    return int(osd.get("rotate", 0))


def ocr_image(
    img: Image.Image,
    lang: str = "vie",
    psm: int = DEFAULT_PSM,
    timeout: float = 120.0,
    channel: str = "red",
    low_conf: float = 0.55,
) -> OcrResult:
    """OCR one page image; OSD orientation check only when the first pass reads badly."""
    import time

    t0 = time.monotonic()
    prep, angle = preprocess(img, channel, deskew=False)
    rotated = 0
    if looks_sideways(prep):  # sideways pages OCR slowly into garbage: ask OSD before, not after
        rotated = detect_orientation(prep, timeout)
        if rotated:
            prep = prep.rotate(-rotated, expand=True, fillcolor=255)
    angle = estimate_skew(prep)
    if abs(angle) >= DESKEW_MIN_ANGLE:
        prep = prep.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=int(np.median(np.asarray(prep))))
    else:
        angle = 0.0
    data = tesseract_words(prep, lang, psm, timeout)
    text, conf = _tsv_to_text(data)
    if not rotated and (conf < low_conf or len(text) < 20) and np.asarray(prep).min() < 128:
        rot = detect_orientation(prep, timeout)  # upside down: profiles cannot tell, the reading can
        if rot:
            turned = prep.rotate(-rot, expand=True, fillcolor=255)
            d2 = tesseract_words(turned, lang, psm, timeout)
            t2, c2 = _tsv_to_text(d2)
            if c2 > conf:
                text, conf, rotated, data = t2, c2, rot, d2
                prep = turned  # second readings must see the page the way this one did
    readings = [data]
    best_img = prep  # the rendering behind the reading kept so far
    tried_other_rendering = False
    for alt, alt_lang in _retries(img, prep, conf, channel, lang, rotated, angle):
        if alt_lang != lang and tried_other_rendering and alt is not best_img:
            # Pages under LUMA_RETRY_CONF: the extra model reads only the rendering that read better.
            # Its reading of the other one was a whole pass (harsh p4: 2.1 CPU-s) that never won and
            # changed nothing as a voice in arbitration (bench-ocr harsh p4 27.13 % CER either way).
            continue
        # A page that read badly gets other readings, and keeps the one tesseract is surer of:
        # - colour pages under LUMA_RETRY_CONF also as plain luminance: the red channel turns a blue
        #   signature crossing the signer's block solid black and tesseract's layout merged that
        #   block into one garbage line (harsh p4: confidence 0.56, CER 71 % → luminance 0.72, 33 %);
        # - pages under RETRY_CONF also with Debian's script model added (`vie+Vietnamese`, package
        #   tesseract-ocr-script-viet) when installed: harsh p1 4.41 → 4.10 % CER, p2 3.11 → 2.63 %,
        #   at ~1.9x the time, so clean pages (confidence ≥ RETRY_CONF, ~0.95 on the mild scans)
        #   pay nothing.
        d3 = tesseract_words(alt, alt_lang, psm, timeout)
        t3, c3 = _tsv_to_text(d3)
        readings.append(d3)
        if alt_lang == lang:
            tried_other_rendering = True
        if c3 > conf + 0.01:
            text, conf, data = t3, c3, d3
            best_img = alt
    if len(readings) > 1 and THIRD_READING and EXTRA_MODEL in installed_languages() \
            and EXTRA_MODEL not in lang.split("+"):
        # The script model alone: rarely the most confident (so not in the contest above), only a voice.
        readings.append(tesseract_words(prep, EXTRA_MODEL, psm, timeout))
    if len(readings) > 1:
        # Where the readings differ only in diacritics, the LM picks between them (arbitrate_readings).
        from congvan.pipeline.postcorrect import arbitrate_readings

        data, n_arb = arbitrate_readings(data, [r for r in readings if r is not data])
        if n_arb:
            text = _tsv_to_text(data)[0]
    # Ink the layout left without words (a signer's block under a stamp and a signature) is read
    # again alone; clean pages have none and pay one numpy pass (pipeline/ocr_regions.py).
    from congvan.pipeline.ocr_regions import recover_missed_text

    data, n_rec = recover_missed_text(prep, data, lambda crop: tesseract_words(crop, lang, 6, timeout))
    if n_rec:
        text = _tsv_to_text(data)[0]
    return OcrResult(text, conf, time.monotonic() - t0, angle, rotated, data)


RETRY_CONF = 0.93  # mean word confidence under which the extra model is tried
LUMA_RETRY_CONF = 0.80  # ... and under which a colour page is also read as luminance
EXTRA_MODEL = "Vietnamese"  # Debian tesseract-ocr-script-viet
# Pages under RETRY_CONF also read with EXTRA_MODEL alone, as a third voice for arbitrate_readings.
# Off by measurement: harsh scan 2.91 → 2.87 % CER, mild scans unchanged, for one more tesseract pass
# (+30–60 % time on those pages under load).
THIRD_READING = False


@lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Tesseract's installed models (pytesseract's own lister drops capitalised script models)."""
    import subprocess

    import pytesseract

    try:
        out = subprocess.run([pytesseract.pytesseract.tesseract_cmd, "--list-langs"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(ln.strip() for ln in out.splitlines()[1:] if ln.strip() and " " not in ln.strip())


def _retries(img: Image.Image, prep: Image.Image, conf: float, channel: str, lang: str,
             rotated: int, angle: float) -> list[tuple[Image.Image, str]]:
    """Second readings worth trying for a page read with mean confidence `conf` (see ocr_image)."""
    out: list[tuple[Image.Image, str]] = []
    if conf >= RETRY_CONF:
        return out
    extra = lang if EXTRA_MODEL in lang.split("+") or EXTRA_MODEL not in installed_languages() \
        else f"{lang}+{EXTRA_MODEL}"
    grey = None
    if conf < LUMA_RETRY_CONF and channel != "luma" and img.mode not in ("1", "L", "I;16", "I"):
        grey = _grey_for_retry(img, rotated, angle)
        out.append((grey, lang))
    if extra != lang:
        out.append((prep, extra))
        if grey is not None:
            out.append((grey, extra))
    return out


def _grey_for_retry(img: Image.Image, rotated: int, angle: float) -> Image.Image:
    """The page as luminance grey, turned the way the first pass settled on."""
    out = to_grey(img, "luma")
    if rotated:
        out = out.rotate(-rotated, expand=True, fillcolor=255)
    if angle:
        out = out.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=int(np.median(np.asarray(out))))
    return out
