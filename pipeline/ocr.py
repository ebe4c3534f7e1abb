"""Page images → text with tesseract: render, clean, deskew, OCR with word confidences.

Grey comes from the red channel: red seals and "ĐẾN" stamps become near-white while black print
stays black. (Blue ink is *not* lightened by the red channel — blue has little red; the "maxrb"
channel lightens both, but measured no better.) Small skews (< 2°) are left to tesseract: rotating
them first made CER worse. One tesseract thread per page (OMP_THREAD_LIMIT=1) and pages in
parallel beat one page with many threads on small machines.
"""
from __future__ import annotations

import atexit
import os
import threading
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
    """Skew in degrees by projection-profile sharpness on a small copy (cheap; no OSD).

    Coarse to fine: every whole degree, then the `step` angles within a degree of the best of those
    (19 rotations instead of 49, ~20 ms a page less). Measured, not proven: the angle the full sweep
    picks on all 42 sample and real-world scanned pages, each as is and turned by 14 angles from -5.8
    to 5.3 degrees (630 cases); a finer first pass (0.5) missed it twice."""
    import cv2

    small = grey.copy()
    small.thumbnail((800, 800))
    arr = np.asarray(small, dtype=np.uint8)
    ink = (arr < 128).astype(np.uint8) * 255
    if ink.mean() < 0.5:  # blank page
        return 0.0
    im = Image.fromarray(ink)
    angles = np.arange(-max_angle, max_angle + 1e-9, step)
    scores: dict[int, float] = {}

    def score(i: int) -> float:
        if i not in scores:
            rot = np.asarray(im.rotate(float(angles[i]), resample=Image.NEAREST, fillcolor=0))
            # Row sums of a 0/255 image, summed as integers (cv2.reduce: ~10x faster than count_nonzero
            # per row): the same float32 values a float32 sum gives (every partial sum is an integer
            # under 2**24, exact in float32), without the float copy.
            prof = cv2.reduce(rot, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.float32)
            scores[i] = float(np.var(np.diff(prof)))
        return scores[i]

    def first_best(indices) -> int:  # the first of equal scores, as one ascending sweep keeps it
        best, best_score = -1, -1.0
        for i in sorted(indices):
            if score(i) > best_score:
                best, best_score = i, score(i)
        return best

    k = max(1, int(round(1.0 / step)))  # fine angles per coarse one
    zero = int(np.argmin(np.abs(angles)))
    coarse = first_best(range(zero % k, len(angles), k))
    best = first_best(list(scores) + list(range(max(0, coarse - k + 1), min(len(angles), coarse + k))))
    return float(angles[best]) if best >= 0 else 0.0


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


def _timeout_error(timeout: float) -> LimitExceeded:
    return LimitExceeded(f"OCR took longer than the per-page limit ocr_timeout={timeout:g}s", stage="ocr")


def tesseract_words(img: Image.Image, lang: str, psm: int, timeout: float) -> dict:
    """tesseract's word table (`image_to_data` as a dict) for `img`, read with `lang` at `psm`."""
    import pytesseract

    engine = _engine()
    if engine is not None:
        with ocr_slot():
            tsv = engine.read(img, lang, psm, timeout, "tsv")
        return pytesseract.pytesseract.file_to_dict(tsv, "\t", -1)  # what image_to_data(DICT) returns

    try:
        with ocr_slot(), _as_ppm(img) as raw:
            return pytesseract.image_to_data(
                raw, lang=lang, config=f"--psm {psm}", output_type=pytesseract.Output.DICT, timeout=timeout
            )
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise _timeout_error(timeout) from exc
        raise


def tesseract_hocr(img: Image.Image, lang: str, psm: int, timeout: float) -> str:
    """tesseract's hOCR with character boxes (`-c hocr_char_boxes=1`) for `img`."""
    engine = _engine()
    if engine is not None:
        with ocr_slot():
            return engine.read(img, lang, psm, timeout, "hocr")
    import pytesseract

    try:
        with ocr_slot(), _as_ppm(img) as raw:
            return pytesseract.image_to_pdf_or_hocr(raw, lang=lang, config=f"--psm {psm} -c hocr_char_boxes=1",
                                                    extension="hocr", timeout=timeout).decode("utf-8")
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise _timeout_error(timeout) from exc
        raise


# --------------------------------------------------------------------------- tesseract in this process
# Tesseract's own start-up (loading the model and its dictionaries) cost ~0.25 CPU-s a call (0.45 with
# the script model added), paid again by every page, second reading, region crop and cell strip when
# each ran the `tesseract` CLI. The same library (libtesseract, the one the CLI links) is called
# here through its C API instead: loaded models (TessBaseAPI, one per language and page read at
# once) are kept for the process's life and lent to one reading at a time. It is driven as the
# CLI drives it for pytesseract's command line (same variables, the page segmentation mode set
# after Init, a grey page's bytes handed over as they are (SetImage; other modes as the same PPM
# bytes decoded by leptonica), TSV from GetTSVText(0) behind the CLI's header, hOCR from
# GetHOCRText(0)), so the words, boxes and confidences are the CLI's, byte for byte (checked on all
# 39 readings of the 29 sample scan pages: first and second readings and region crops, and on the 4
# cell strips; two pages at once; the grey bytes path again on 21 readings of 12 pages).
# Orientation (OSD) still runs the CLI. The per-page limit stops recognition at the deadline
# (tesseract's monitor) and fails a page whose reading outlasted it. CONGVAN_TESSERACT_INPROCESS=0
# goes back to the CLI; so does a library that cannot be loaded.
# Only in extraction worker processes (pool._init_child calls `read_in_this_process`): there a
# native crash in tesseract kills one worker, and the pool re-reads the file alone and quarantines
# it, as with any crashing file. The run's own process (a single file, CONGVAN_PROCESSES=0, the
# benchmarks) keeps the CLI, whose crash or hang is one killed command.
TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
OEM_DEFAULT = 3


class _Engine:
    def __init__(self):
        import ctypes

        self.c = ctypes
        tess = ctypes.CDLL(_library("tesseract", "libtesseract.so.5"))
        lept = ctypes.CDLL(_library("lept", "liblept.so.5"))
        p, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        strs = ctypes.POINTER(ctypes.c_char_p)
        for name, args, res in (
            ("TessVersion", [], cp), ("TessBaseAPICreate", [], p), ("TessBaseAPIDelete", [p], None),
            ("TessBaseAPIInit4", [p, cp, cp, i, strs, i, strs, strs, ctypes.c_size_t, i], i),
            ("TessBaseAPISetVariable", [p, cp, cp], i), ("TessBaseAPIGetPageSegMode", [p], i),
            ("TessBaseAPISetPageSegMode", [p, i], None), ("TessBaseAPISetInputName", [p, cp], None),
            ("TessBaseAPISetImage2", [p, p], None), ("TessBaseAPIRecognize", [p, p], i),
            ("TessBaseAPISetImage", [p, cp, i, i, i, i], None),
            ("TessBaseAPIGetTsvText", [p, i], p), ("TessBaseAPIGetHOCRText", [p, i], p),
            ("TessDeleteText", [p], None), ("TessBaseAPIClear", [p], None),
            ("TessMonitorCreate", [], p), ("TessMonitorDelete", [p], None),
            ("TessMonitorSetDeadlineMSecs", [p, i], None),
        ):
            fn = getattr(tess, name)
            fn.argtypes, fn.restype = args, res
        for name, args, res in (("pixReadMem", [cp, ctypes.c_size_t], p), ("pixDestroy", [ctypes.POINTER(p)], None),
                                ("setMsgSeverity", [i], i)):
            fn = getattr(lept, name)
            fn.argtypes, fn.restype = args, res
        lept.setMsgSeverity(6)  # L_SEVERITY_NONE: leptonica's complaints were the CLI's stderr, unread
        self.tess, self.lept = tess, lept
        self.version = (tess.TessVersion() or b"").decode("utf-8", "replace")
        self.idle: dict[str, list] = {}
        self.handles: list = []
        self.lock = threading.Lock()
        self.quiet = False

    def _checkout(self, lang: str):
        """A TessBaseAPI for `lang`, for this caller alone until `_checkin`: an idle one, else a new one
        initialised as `tesseract IN OUT -l LANG -c tessedit_create_tsv=1` initialises it (hOCR is asked
        of the same one: see read). A process keeps at most as many per language as it ever read
        pages with at once (its page threads; fewer when the tesseract slots were the bound)."""
        with self.lock:
            idle = self.idle.get(lang)
            if idle:
                return idle.pop()
        c, tess = self.c, self.tess
        h = tess.TessBaseAPICreate()
        names = (c.c_char_p * 1)(b"tessedit_create_tsv")
        values = (c.c_char_p * 1)(b"1")
        if tess.TessBaseAPIInit4(h, None, lang.encode(), OEM_DEFAULT, None, 0, names, values, 1, 0) != 0:
            tess.TessBaseAPIDelete(h)
            raise RuntimeError(f"tesseract cannot load the language(s) {lang!r}")
        tess.TessBaseAPISetVariable(h, b"tessedit_create_tsv", b"1")  # the CLI sets -c twice, too
        with self.lock:
            if not self.quiet:  # tprintf's global: "Estimating resolution as …" was the CLI's stderr
                tess.TessBaseAPISetVariable(h, b"debug_file", os.devnull.encode())
                self.quiet = True
            self.handles.append(h)
        return h

    def _checkin(self, lang: str, h) -> None:
        with self.lock:
            self.idle.setdefault(lang, []).append(h)

    def read(self, img: Image.Image, lang: str, psm: int, timeout: float, kind: str) -> str:
        import io
        import time

        c, tess, lept = self.c, self.tess, self.lept
        grey = img.tobytes() if img.mode == "L" else None
        pix = c.c_void_p(None)
        if grey is None:
            buf = io.BytesIO()
            with _as_ppm(img) as raw:
                if "A" in raw.getbands():  # as pytesseract's prepare(): alpha onto white
                    flat = Image.new("RGB", raw.size, (255, 255, 255))
                    flat.paste(raw, (0, 0), raw.getchannel("A"))
                    raw = flat
                raw.save(buf, format="PPM")
            data = buf.getvalue()
            pix = c.c_void_p(lept.pixReadMem(data, len(data)))
            if not pix.value:
                raise RuntimeError("leptonica could not read the page image")
        try:
            h = self._checkout(lang)
        except BaseException:
            if pix.value:
                lept.pixDestroy(c.byref(pix))
            raise
        if tess.TessBaseAPIGetPageSegMode(h) != psm:
            tess.TessBaseAPISetPageSegMode(h, psm)
        monitor = tess.TessMonitorCreate() if timeout and timeout > 0 else None
        try:
            t0 = time.monotonic()
            if monitor:  # recognition stops at the deadline (the CLI's process was killed at it)
                tess.TessMonitorSetDeadlineMSecs(monitor, int(min(timeout * 1000, 2**31 - 1)))
            tess.TessBaseAPISetInputName(h, b"page.ppm")
            if grey is not None:
                # A grey page's bytes handed over as they are: leptonica's PGM reader took ~80 ms a
                # page (as long as the rest of the reading's overhead together); tesseract builds the
                # same 8-bit image from them (same words, boxes and confidences: tests/test_ocr.py).
                tess.TessBaseAPISetImage(h, grey, img.width, img.height, 1, img.width)
            else:
                tess.TessBaseAPISetImage2(h, pix)
            failed = tess.TessBaseAPIRecognize(h, monitor) < 0
            if monitor and time.monotonic() - t0 >= timeout:  # layout analysis is not stopped, only judged
                raise _timeout_error(timeout)
            if failed:
                raise RuntimeError("tesseract failed to recognise the page")
            if kind == "hocr":
                tess.TessBaseAPISetVariable(h, b"hocr_char_boxes", b"1")
                try:
                    out = tess.TessBaseAPIGetHOCRText(h, 0)
                finally:
                    tess.TessBaseAPISetVariable(h, b"hocr_char_boxes", b"0")
            else:
                out = tess.TessBaseAPIGetTsvText(h, 0)
            if not out:
                raise RuntimeError("tesseract returned no output")
            try:
                text = c.string_at(out).decode("utf-8")
            finally:
                tess.TessDeleteText(out)
        finally:
            tess.TessBaseAPIClear(h)
            self._checkin(lang, h)
            if pix.value:
                lept.pixDestroy(c.byref(pix))
            if monitor:
                tess.TessMonitorDelete(monitor)
        return TSV_HEADER + text if kind == "tsv" else text

    def close(self) -> None:
        with self.lock:
            handles, self.handles, self.idle = self.handles, [], {}
        for h in handles:
            self.tess.TessBaseAPIDelete(h)


def _library(name: str, fallback: str) -> str:
    from ctypes.util import find_library

    return find_library(name) or fallback


_ENGINE: Optional[_Engine] = None
_ENGINE_TRIED = False
_ENGINE_LOCK = threading.Lock()


_IN_WORKER = False  # set by read_in_this_process() in extraction worker processes


def read_in_this_process() -> None:
    """Let this process call libtesseract itself: it is a worker behind the pool's fault boundary."""
    global _IN_WORKER
    _IN_WORKER = True


def _engine() -> Optional[_Engine]:
    """The in-process tesseract, or None (not a worker process, CONGVAN_TESSERACT_INPROCESS=0, or no
    loadable library)."""
    global _ENGINE, _ENGINE_TRIED
    if not _IN_WORKER:
        return None
    if _ENGINE_TRIED:
        return _ENGINE
    with _ENGINE_LOCK:
        if not _ENGINE_TRIED:
            if os.environ.get("CONGVAN_TESSERACT_INPROCESS", "1").strip().lower() not in ("0", "false", "no", "off"):
                try:
                    _ENGINE = _Engine()
                    atexit.register(_ENGINE.close)
                except (OSError, AttributeError) as exc:
                    import logging

                    logging.getLogger(__name__).info("tesseract runs as a command (no libtesseract: %s)", exc)
                    _ENGINE = None
            _ENGINE_TRIED = True
    return _ENGINE


def _after_fork_in_child() -> None:
    """A forked child starts without the parent's loaded models (and a lock no thread holds)."""
    global _ENGINE, _ENGINE_TRIED, _ENGINE_LOCK
    _ENGINE, _ENGINE_TRIED, _ENGINE_LOCK = None, False, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def engine_version() -> str:
    """libtesseract's version when pages are read in this process, else ""."""
    e = _engine()
    return e.version if e is not None else ""


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
    for alt, alt_lang in _retries(img, prep, conf, channel, lang, rotated, angle):
        if alt is prep and best_img is not prep:
            # Colour pages under LUMA_RETRY_CONF: the luminance rendering already read better with the
            # extra model, so the red channel's reading with it (a whole pass) is not asked for.
            continue
        # A page that read badly gets other readings, and keeps the one tesseract is surer of:
        # - colour pages under LUMA_RETRY_CONF also as plain luminance: the red channel turns a blue
        #   signature crossing the signer's block solid black and tesseract's layout merged that
        #   block into one garbage line (harsh p4: confidence 0.56 → luminance 0.72). With the extra
        #   model installed, the luminance rendering is read with it straight away: a plain-model
        #   reading of it only chose the rendering and never won (harsh p4 6.20 → 5.43 % CER
        #   without it, one whole pass less);
        # - pages under RETRY_CONF also with Debian's script model added (`vie+Vietnamese`, package
        #   tesseract-ocr-script-viet) when installed: harsh p1 4.41 → 4.10 % CER, p2 3.11 → 2.63 %,
        #   at ~1.6x the time, so clean pages (confidence ≥ RETRY_CONF, ~0.95 on the mild scans)
        #   pay nothing.
        d3 = tesseract_words(alt, alt_lang, psm, timeout)
        t3, c3 = _tsv_to_text(d3)
        readings.append(d3)
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
    if extra == lang:
        return [(grey, lang)] if grey is not None else out
    if grey is not None:  # luminance with the extra model first; the red channel with it only if that lost
        out.append((grey, extra))
    out.append((prep, extra))
    return out


def _grey_for_retry(img: Image.Image, rotated: int, angle: float) -> Image.Image:
    """The page as luminance grey, turned the way the first pass settled on."""
    out = to_grey(img, "luma")
    if rotated:
        out = out.rotate(-rotated, expand=True, fillcolor=255)
    if angle:
        out = out.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=int(np.median(np.asarray(out))))
    return out
