"""Text tesseract's page layout left out, read again region by region.

On a page with a stamp and a signature across the signer's block, tesseract's layout analysis
(psm 4) can classify the whole block as a picture and return no words for it: the harsh scan's
last page lost "KT. CHỦ TỊCH / … / Lại Văn Hoàn" entirely, while a crop of that block read as one
uniform block (psm 6) gives it back. So: ink the first reading did not cover, grouped into
line-sized regions, is cropped and read alone; only lines tesseract is sure of are kept (a
signature or a stamp's ring reads as low-confidence debris and is dropped). Pages where every
inked region became words (clean pages) cost one numpy pass and no tesseract call. Regions inside a
ruled table (its lines, its skipped cells) are left to ocr_tables, which re-reads cells.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from congvan.pipeline.postcorrect import tsv_words
from congvan.pipeline.quality import is_syllable

SCALE = 4              # regions are found on a 1/4 image: fast, and merges letters into lines
MARGIN = 8             # px around each read word counted as covered
MIN_W, MIN_H = 120, 25  # a region smaller than a short word at 300 dpi is a speck, a dot leader, a rule
MIN_INK = 800          # dark pixels in a region: less is noise
MAX_REGIONS = 6        # at most this many extra reads per page
KEEP_LINE_CONF = 65.0  # a re-read line is kept when its words' mean confidence reaches this
KEEP_WORD_CONF = 40.0  # ... and loses leading/trailing tokens under this (stray marks); a line needs
# two words of two letters or more ("'PHÓC" alone, conf 88, was a stamp's ring on a real scan), two
# thirds of them Vietnamese syllables or short capital codes ("V BAN NHANFT", conf ≥ 65, was not)


def missed_regions(prep: Image.Image, words: dict) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of inked regions no read word covers, largest first."""
    import cv2

    a = np.asarray(prep if prep.mode == "L" else prep.convert("L"))
    # a < 128 as 0/1, and its sums counted (cv2: one pass each, ~5 ms less a page than numpy's).
    ink = cv2.threshold(a, 127, 1, cv2.THRESH_BINARY_INV)[1]
    for i in tsv_words(words):
        l, t, ww, hh = words["left"][i], words["top"][i], words["width"][i], words["height"][i]
        ink[max(0, t - MARGIN):t + hh + MARGIN, max(0, l - MARGIN):l + ww + MARGIN] = 0
    if cv2.countNonZero(ink) < MIN_INK:
        return []
    small = _shrink(ink, (max(1, ink.shape[1] // SCALE), max(1, ink.shape[0] // SCALE)))
    small = (small > 0).astype(np.uint8)
    joined = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined)
    found = []
    for j in range(1, n):
        x, y, w, h = (int(v) * SCALE for v in stats[j][:4])
        if w < MIN_W or h < MIN_H:
            continue
        dark = cv2.countNonZero(ink[y:y + h, x:x + w])
        if dark >= MIN_INK:
            found.append((dark, (x, y, w, h)))
    if found:  # a ruled table's lines and skipped cells are ocr_tables' to read (cell by cell)
        from congvan.pipeline.ocr_tables import table_boxes

        tables = table_boxes(a, words)
        found = [f for f in found if not any(_inside(f[1], t) for t in tables)]
    found.sort(reverse=True)
    return [box for _, box in found[:MAX_REGIONS]]


def _shrink(ink: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cv2.resize(ink, size, INTER_AREA)`, resampled only over the rows holding ink when each small
    row is exactly SCALE rows of `ink` (then each small row is made of its own SCALE rows alone, and
    rows without ink shrink to 0): the same pixels, ~12 ms less on a clean page whose leftover ink is
    a rule or two."""
    import cv2

    w, h = size
    if ink.shape[0] != h * SCALE:
        return cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    _, y, _, bh = cv2.boundingRect(ink)
    r0, r1 = y // SCALE, -(-(y + bh) // SCALE)
    out = np.zeros((h, w), np.uint8)
    if r1 > r0:
        out[r0:r1] = cv2.resize(ink[r0 * SCALE:r1 * SCALE], (w, r1 - r0), interpolation=cv2.INTER_AREA)
    return out


def _inside(box: tuple[int, int, int, int], table: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    return table[0] <= cx <= table[2] and table[1] <= cy <= table[3]


def _lines(words: dict) -> list[list[int]]:
    """Indices of real words, grouped by tesseract's (block, paragraph, line)."""
    groups: dict[tuple, list[int]] = {}
    for i in tsv_words(words):
        groups.setdefault((words["block_num"][i], words["par_num"][i], words["line_num"][i]), []).append(i)
    return list(groups.values())


def _letters(token: str) -> str:
    """The token without the punctuation OCR glues to it ("'Lại", "KT.")."""
    start, end = 0, len(token)
    while start < end and not token[start].isalpha():
        start += 1
    while end > start and not token[end - 1].isalpha():
        end -= 1
    return token[start:end]


def sure_lines(words: dict) -> list[list[int]]:
    """The lines worth keeping from a region's reading, stray marks at their ends trimmed."""
    kept = []
    for line in _lines(words):
        conf = [float(words["conf"][i]) for i in line]
        def stray(i: int, c: float) -> bool:
            return c < KEEP_WORD_CONF or not any(ch.isalnum() for ch in words["text"][i])

        while line and stray(line[0], conf[0]):
            line, conf = line[1:], conf[1:]
        while line and stray(line[-1], conf[-1]):
            line, conf = line[:-1], conf[:-1]
        tokens = [t for t in (_letters(words["text"][i]) for i in line) if len(t) >= 2]
        readable = sum(is_syllable(t) or (t.isupper() and len(t) <= 5) for t in tokens)  # or a code: UBND
        if len(tokens) >= 2 and 3 * readable >= 2 * len(tokens) and sum(conf) / len(conf) >= KEEP_LINE_CONF:
            kept.append(line)
    return kept


def recover_missed_text(prep: Image.Image, words: dict,
                        read: Callable[[Image.Image], dict]) -> tuple[dict, int]:
    """`words` with the sure lines of each missed region added as new blocks (page coordinates);
    `read(crop)` is tesseract's image_to_data on a crop (psm 6). Returns (words, lines added)."""
    if not all(k in words for k in ("left", "top", "width", "height")):
        return words, 0  # a reading without word boxes cannot tell what it covered
    regions = missed_regions(prep, words)
    if not regions:
        return words, 0
    out = {k: list(v) for k, v in words.items()}
    block = max((int(b) for b in out.get("block_num", [0]) or [0]), default=0)
    added = 0
    for x, y, w, h in sorted(regions, key=lambda b: (b[1], b[0])):  # reading order: top, then left
        pad = 20
        x0, y0 = max(0, x - pad), max(0, y - pad)
        crop = prep.crop((x0, y0, min(prep.width, x + w + pad), min(prep.height, y + h + pad)))
        got = read(crop)
        lines = sure_lines(got)
        if not lines:
            continue
        block += 1
        for n_line, line in enumerate(lines, start=1):
            for n_word, i in enumerate(line, start=1):
                for key, value in (("level", 5), ("page_num", 1), ("block_num", block), ("par_num", 1),
                                   ("line_num", n_line), ("word_num", n_word),
                                   ("left", got["left"][i] + x0), ("top", got["top"][i] + y0),
                                   ("width", got["width"][i]), ("height", got["height"][i]),
                                   ("conf", got["conf"][i]), ("text", got["text"][i])):
                    if key in out:
                        out[key].append(value)
            added += 1
    return out, added
