"""Ruled tables on OCR'd pages: find the cell grid in the page image, read each cell on its own.

Tesseract lays a page out in text lines and blocks; on a ruled table (the task tables of a kế
hoạch: content · lead unit · coordinating units · quarter) its blocks cut across the cells, so the
page text interleaves them ("Sở Nội vụ (Ban Thi Văn phòng UBND tỉnh"). The words themselves are
read well: only their order is wrong. So the table is rebuilt from geometry:

1. ruling lines: ink opened with long thin kernels (OpenCV morphology), kernel lengths scaled by
   the page's median word height (so any dpi works); a residual skew under the OCR's own deskew
   threshold is measured on the long horizontal rules and undone before the grid is read;
2. the grid: connected line networks large enough to hold text; rule positions clustered; a rule
   that does not separate at least one pair of cells along most of their side (an underline inside
   a cell, a stray stroke) is dropped; open-sided tables get their outer edges from the rules'
   extent; merged cells are cells whose shared side has no rule;
3. tesseract's own word boxes (`OcrResult.words`, the TSV behind the text) go to the cell holding
   their centre, are put into lines by height inside the cell, and the cell reads top to bottom;
   rule debris ("|" on a rule), specks read as "-" and "words" running over a rule are dropped;
   cells left empty or read with low confidence (lone numbers and Roman numerals of the numbering
   column, which tesseract's page layout skips) are read again, side by side on one strip, in one
   extra tesseract call per page, and cut back into cells by tesseract's character boxes;
4. output in the shape the text-layer path gives (pdfplumber `extract_tables`): rows of cell
   strings, `None` where a merged cell spans, and a page text where each row is one line of
   tab-separated cells, text above a table before it, text beside or below after it.

Borderless tables are not recovered (no rules, no grid): their text stays in tesseract's order.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

# Share of a cell side that must carry rule ink for the side to count as a separator. Scanned rules
# fade and break; text never covers half of a side.
SEPARATOR_COVER = 0.5
# A rule kept in the grid separates at least one pair of cells along this share of their side.
RULE_COVER = 0.6


@dataclass
class Grid:
    """One ruled table: rule positions (image pixels, in the levelled frame) and which cell sides
    carry a rule. `vsep[r, c]`: a rule at xs[c] within row band r; `hsep[r, c]`: a rule at ys[r]
    within column band c."""

    xs: list[int]
    ys: list[int]
    vsep: np.ndarray
    hsep: np.ndarray

    @property
    def nrows(self) -> int:
        return len(self.ys) - 1

    @property
    def ncols(self) -> int:
        return len(self.xs) - 1

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return self.xs[0], self.ys[0], self.xs[-1], self.ys[-1]

    def cells(self) -> dict[tuple[int, int], tuple[int, int, int, int]]:
        """{top-left atomic (row, col): (row0, col0, row1, col1) inclusive} for each merged cell."""
        parent = list(range(self.nrows * self.ncols))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        def union(a: int, b: int) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        for r in range(self.nrows):
            for c in range(self.ncols):
                if c + 1 < self.ncols and not self.vsep[r, c + 1]:
                    union(r * self.ncols + c, r * self.ncols + c + 1)
                if r + 1 < self.nrows and not self.hsep[r + 1, c]:
                    union(r * self.ncols + c, (r + 1) * self.ncols + c)
        groups: dict[int, list[tuple[int, int]]] = {}
        for r in range(self.nrows):
            for c in range(self.ncols):
                groups.setdefault(find(r * self.ncols + c), []).append((r, c))
        out = {}
        for members in groups.values():
            rs = [m[0] for m in members]
            cs = [m[1] for m in members]
            out[(min(rs), min(cs))] = (min(rs), min(cs), max(rs), max(cs))
        return out

    def locate(self, x: float, y: float) -> Optional[tuple[int, int]]:
        """Atomic (row, col) holding point (x, y), or None outside the table."""
        if not (self.xs[0] <= x < self.xs[-1] and self.ys[0] <= y < self.ys[-1]):
            return None
        c = int(np.searchsorted(self.xs, x, side="right")) - 1
        r = int(np.searchsorted(self.ys, y, side="right")) - 1
        return r, c


@dataclass
class TableReading:
    """A page re-read with its ruled tables: the text, tesseract's word dict re-ordered to follow
    the text (so word confidences still line up with it), and the tables as rows of cells.
    `spans[t][r][c]` is the (start, end) of that cell's text in `text`, None for spanned cells."""

    text: str
    words: dict
    tables: list[list[list[Optional[str]]]]
    spans: list[list[list[Optional[tuple[int, int]]]]] = field(default_factory=list)
    complete: bool = True  # False when a cell re-read failed (tesseract): such a reading is not cached

    def corrected_tables(self, changes) -> list[list[list[Optional[str]]]]:
        """The tables read from the post-corrected text: `changes` are the edits (with .start, .end,
        .after on offsets of `text`) that turned `text` into the corrected text."""
        if not changes:
            return self.tables
        changes = sorted(changes, key=lambda ch: ch.start)
        fixed, pos = [], 0
        for ch in changes:
            fixed.append(self.text[pos:ch.start])
            fixed.append(ch.after)
            pos = ch.end
        fixed.append(self.text[pos:])
        corrected = "".join(fixed)

        def moved(offset: int, is_end: bool) -> int:
            shift = 0
            for ch in changes:
                if ch.end < offset or (ch.end == offset and ch.end > ch.start):
                    shift += len(ch.after) - (ch.end - ch.start)
                elif ch.start < offset < ch.end:  # an edit across the boundary: keep it inside
                    return ch.start + shift + (len(ch.after) if is_end else 0)
                elif ch.start >= offset:
                    break
            return offset + shift

        out = []
        for table, tspans in zip(self.tables, self.spans):
            rows = []
            for row, rspans in zip(table, tspans):
                cells = []
                for cell, sp in zip(row, rspans):
                    if cell is None or sp is None or not any(
                            ch.start < sp[1] and ch.end > sp[0] or sp[0] <= ch.start < sp[1] for ch in changes):
                        cells.append(cell)  # untouched: keeps its line breaks, as the text layer's do
                    else:
                        cells.append(corrected[moved(sp[0], False):moved(sp[1], True)].strip())
                rows.append(cells)
            out.append(rows)
        return out


# --------------------------------------------------------------------------- words
def _word_indices(data: dict) -> list[int]:
    out = []
    for i, t in enumerate(data.get("text", [])):
        if data["level"][i] != 5 or not (t or "").strip():
            continue
        try:
            conf = float(data["conf"][i])
        except (TypeError, ValueError):
            continue
        if conf >= 0:
            out.append(i)
    return out


def _text_height(data: dict, idx: list[int]) -> float:
    hs = [data["height"][i] for i in idx if len((data["text"][i] or "").strip()) >= 2]
    return float(np.median(hs)) if hs else 0.0


# --------------------------------------------------------------------------- image → rule masks
def page_grey(img: Image.Image, rotated: int = 0, angle: float = 0.0) -> Image.Image:
    """The page as grey in the frame the OCR read it (turned by OSD, deskewed), for the word boxes."""
    grey = img.convert("L")
    if rotated:
        grey = grey.rotate(-rotated, expand=True, fillcolor=255)
    if angle:
        grey = grey.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return grey


def _ink(grey: np.ndarray) -> np.ndarray:
    import cv2

    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return ink


def _window(bits: np.ndarray, length: int, op, axis: int) -> np.ndarray:
    """`op` (AND/OR) of `length` consecutive pixels of a packed 0/1 image, from each pixel on: down
    the rows (axis 0) or along the bits of each row (axis 1); `length - 1` pixels shorter."""
    def pair(r: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if axis == 0:
            return r[:-k], r[k:]
        q, b = divmod(k, 8)
        if b == 0:
            return r[:, :-q], r[:, q:]
        s = (r[:, q:-1] << b) | (r[:, q + 1:] >> (8 - b))  # pixels k further on (bits most significant first)
        return r[:, :s.shape[1]], s

    width = 1
    while 2 * width <= length:  # runs doubling in length: log2(length) passes, not length
        bits = op(*pair(bits, width))
        width *= 2
    if width < length:
        bits = op(*pair(bits, length - width))
    return bits


def _open_bits(packed: np.ndarray, width: int, length: int, vertical: bool) -> tuple[np.ndarray, np.ndarray]:
    """(erosion, opening) of a row-packed 0/1 image by a 1 x length (vertical) or length x 1 line,
    bit for bit what cv2.morphologyEx(MORPH_OPEN) gives on the 0/255 image: the same anchor
    (length // 2), outside the image counted as ink by the erosion and as paper by the dilation."""
    a = length // 2
    n, nb = packed.shape
    if vertical:
        def run(x: np.ndarray, fill: int, op) -> np.ndarray:
            ext = np.concatenate([np.full((a, nb), fill, np.uint8), x, np.full((length - 1 - a, nb), fill, np.uint8)])
            return _window(ext, length, op, 0)
    else:
        lead = (a + 7) // 8
        off = 8 * lead - a  # bit offset of pixel 0 in the extended rows' results
        tail = width % 8

        def run(x: np.ndarray, fill: int, op) -> np.ndarray:
            ext = np.concatenate([np.full((n, lead), fill, np.uint8), x,
                                  np.full((n, (length + 7) // 8 + 8), fill, np.uint8)], axis=1)
            if tail:  # the padding bits of each row's last byte are outside the image too
                last = ext[:, lead + nb - 1]
                ext[:, lead + nb - 1] = last | (0xFF >> tail) if fill else last
            r = _window(ext, length, op, 1)
            if off:
                r = (r[:, :-1] << off) | (r[:, 1:] >> (8 - off))
            r = r[:, :nb]
            if tail:
                r[:, -1] &= (0xFF << (8 - tail)) & 0xFF
            return r
    ero = run(packed, 255, np.bitwise_and)
    return ero, run(ero, 0, np.bitwise_or)


def _unpack(bits: np.ndarray, width: int) -> np.ndarray:
    out = np.unpackbits(bits, axis=1, count=width)
    out *= 255
    return out


def _open(ink: np.ndarray, w: int, h: int) -> np.ndarray:
    """`cv2.morphologyEx(ink, MORPH_OPEN, rect w x h)` of a 0/255 ink image; a line kernel (w or h
    of 1) on bits packed 8 to a byte, ~3x less CPU on a 300 dpi page and the same pixels."""
    import cv2

    if (w == 1 or h == 1) and ink.ndim == 2 and ink.dtype == np.uint8 and ink.size:
        return _unpack(_open_bits(np.packbits(ink, axis=1), ink.shape[1], max(w, h), w == 1)[1], ink.shape[1])
    return cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (w, h)))


def rule_masks(ink: np.ndarray, text_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(horizontal, vertical) rule pixels: runs longer than any glyph stroke at this text size.
    `ink` is 0/255 (as `_ink` gives it)."""
    s = max(6.0, text_h)
    hmask = _open(ink, int(round(2.5 * s)), 1)
    vmask = _open(ink, 1, int(round(1.5 * s)))
    return hmask, vmask


def _rule_masks_if_any(ink: np.ndarray, text_h: float) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """`rule_masks`, or None as soon as one of them is sure to be empty.

    Why: most pages have no vertical rule at all (vertical runs of ink longer than 1.5 text heights);
    the vertical erosion on packed bits tells so in ~2 ms, before the horizontal opening is paid."""
    s = max(6.0, text_h)
    if ink.ndim != 2 or not ink.size:
        hmask, vmask = rule_masks(ink, text_h)
        return (hmask, vmask) if vmask.any() and hmask.any() else None
    width = ink.shape[1]
    packed = np.packbits(ink, axis=1)
    vero, vbits = _open_bits(packed, width, int(round(1.5 * s)), True)
    if not vero.any():  # the opening is empty exactly when the erosion is
        return None
    hero, hbits = _open_bits(packed, width, int(round(2.5 * s)), False)
    if not hero.any():
        return None
    return _unpack(hbits, width), _unpack(vbits, width)


def _components_box(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """`cv2.connectedComponentsWithStats` (8-connected) of a sparse mask, labelled only inside the
    bounding box of its ink: (n, box labels, stats, centroids, box x, box y), stats and centroids in
    whole-mask coordinates as the full call gives them (the background's centroid aside).

    Why: labelling writes a label per pixel; rule masks hold a few rules on a 300 dpi page, and
    labelling the empty rest cost ~50-150 ms a call, three calls a page."""
    import cv2

    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:  # background only (the full call labels the whole empty page: ~70 ms)
        H, W = mask.shape[:2]
        stats = np.array([[0, 0, W, H, H * W]], dtype=np.int32)
        return 1, np.zeros((0, 0), np.uint16), stats, np.array([[(W - 1) / 2.0, (H - 1) / 2.0]]), 0, 0
    crop = np.ascontiguousarray(mask[y:y + h, x:x + w])
    try:
        # 16-bit labels: the same algorithm, labels, stats and centroids as the 32-bit call in a third
        # of the time (~15 against ~45 ms on a page-wide table); OpenCV raises before a label would
        # overflow 16 bits (more than 65534 components), and the 32-bit call is made instead.
        n, sub, stats, cents = cv2.connectedComponentsWithStatsWithAlgorithm(crop, 8, cv2.CV_16U, cv2.CCL_DEFAULT)
    except cv2.error:
        n, sub, stats, cents = cv2.connectedComponentsWithStats(crop, connectivity=8)
    stats = stats.copy()
    stats[1:, 0] += x
    stats[1:, 1] += y
    stats[0] = (0, 0, mask.shape[1], mask.shape[0], int(mask.size - np.count_nonzero(crop)))
    cents = cents.copy()
    cents[1:, 0] += x
    cents[1:, 1] += y
    return n, sub, stats, cents, x, y


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """`_components_box` with `labels` the size of the whole mask (0 outside the box)."""
    import cv2

    if not cv2.countNonZero(mask):
        return cv2.connectedComponentsWithStats(mask, connectivity=8)
    n, sub, stats, cents, x, y = _components_box(mask)
    labels = np.zeros(mask.shape, dtype=sub.dtype)
    labels[y:y + sub.shape[0], x:x + sub.shape[1]] = sub
    return n, labels, stats, cents


def rule_skew(hmask: np.ndarray, min_len: float) -> float:
    """Slope of the long horizontal rules, in degrees (image y down: positive = falls to the right)."""
    n, labels, stats, _, ox, oy = _components_box(hmask)
    angles, weights = [], []
    for k in range(1, n):
        x, y, w, h, area = stats[k]
        if w < min_len:
            continue
        ys, xs = np.nonzero(labels[y - oy:y - oy + h, x - ox:x - ox + w] == k)
        if len(xs) < 10:
            continue
        slope = np.polyfit(xs.astype(np.float64), ys.astype(np.float64), 1)[0]
        angles.append(float(np.degrees(np.arctan(slope))))
        weights.append(float(w))
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][int(np.searchsorted(cum, cum[-1] / 2))])


# --------------------------------------------------------------------------- rule masks → grids
def _cluster(values: list[float], weights: list[float], tol: float) -> list[int]:
    """Positions within `tol` of each other merged into their weighted mean."""
    if not values:
        return []
    order = np.argsort(values)
    out, group, gw = [], [values[order[0]]], [weights[order[0]]]
    for i in order[1:]:
        if values[i] - group[-1] <= tol:
            group.append(values[i])
            gw.append(weights[i])
        else:
            out.append(int(round(np.average(group, weights=gw))))
            group, gw = [values[i]], [weights[i]]
    out.append(int(round(np.average(group, weights=gw))))
    return out


def _hcover(hmask: np.ndarray, y: int, x0: int, x1: int, tol: int) -> float:
    if x1 <= x0:
        return 0.0
    band = hmask[max(0, y - tol):y + tol + 1, x0:x1]
    return float(band.any(axis=0).mean()) if band.size else 0.0


def _vcover(vmask: np.ndarray, x: int, y0: int, y1: int, tol: int) -> float:
    if y1 <= y0:
        return 0.0
    band = vmask[y0:y1, max(0, x - tol):x + tol + 1]
    return float(band.any(axis=1).mean()) if band.size else 0.0


def _segments(mask: np.ndarray, horizontal: bool, min_len: float) -> list[tuple[float, float]]:
    """(position across the rule, length) of each rule piece at least `min_len` long."""
    n, _, stats, cents, _, _ = _components_box(mask)
    out = []
    for k in range(1, n):
        x, y, w, h, _ = stats[k]
        length = w if horizontal else h
        if length >= min_len:
            out.append((float(cents[k][1] if horizontal else cents[k][0]), float(length)))
    return out


def find_grids(hmask: np.ndarray, vmask: np.ndarray, text_h: float) -> list[Grid]:
    """Ruled tables in the (levelled) rule masks, top to bottom."""
    import cv2

    s = max(6.0, text_h)
    tol = max(2, int(round(s / 4)))
    both = cv2.bitwise_or(hmask, vmask)
    # Dilated only around the rules' box: the same pixels as the whole page dilated (no ink farther
    # out), without a page-sized pass.
    bx, by, bw, bh = cv2.boundingRect(both)
    joined = np.zeros_like(both)
    x0, y0 = max(0, bx - tol), max(0, by - tol)
    x1, y1 = min(both.shape[1], bx + bw + tol), min(both.shape[0], by + bh + tol)
    if bw and bh:
        joined[y0:y1, x0:x1] = cv2.dilate(both[y0:y1, x0:x1],
                                          cv2.getStructuringElement(cv2.MORPH_RECT, (2 * tol + 1,) * 2))
    n, labels, stats, _, ox, oy = _components_box(joined)
    grids = []
    for k in range(1, n):
        x, y, w, h, _ = stats[k]
        if w < 4 * s or h < 2 * s:
            continue
        region = labels[y - oy:y - oy + h, x - ox:x - ox + w] == k
        hm = hmask[y:y + h, x:x + w] * region  # uint8: the rule pixels of this network only
        vm = vmask[y:y + h, x:x + w] * region
        g = _grid_in(hm, vm, s, tol)
        if g is None:
            continue
        g.xs = [v + x for v in g.xs]
        g.ys = [v + y for v in g.ys]
        grids.append(g)
    grids.sort(key=lambda g: g.ys[0])
    return grids


def _grid_in(hm: np.ndarray, vm: np.ndarray, s: float, tol: int) -> Optional[Grid]:
    hseg = _segments(hm, True, 2.5 * s)
    vseg = _segments(vm, False, 1.5 * s)
    if len(hseg) < 2 or not vseg:
        return None
    ys = _cluster([p for p, _ in hseg], [l for _, l in hseg], 2 * tol)
    xs = _cluster([p for p, _ in vseg], [l for _, l in vseg], 2 * tol)
    # Outer edges from the rules' extent when a side has no rule (open-sided tables).
    hx = np.nonzero(hm.any(axis=0))[0]
    vy = np.nonzero(vm.any(axis=1))[0]
    if len(hx):
        if not xs or xs[0] - hx[0] > 2 * tol:
            xs.insert(0, int(hx[0]))
        if xs[-1] < hx[-1] - 2 * tol:
            xs.append(int(hx[-1]))
    if len(vy):
        if vy[0] < ys[0] - 2 * tol:
            ys.insert(0, int(vy[0]))
        if ys[-1] < vy[-1] - 2 * tol:
            ys.append(int(vy[-1]))
    # Drop rules that separate no pair of cells (underlines in a cell, strokes): repeat until stable.
    for _ in range(4):
        if len(xs) < 3 or len(ys) < 3:
            return None
        keep_y = [ys[0]] + [y for y in ys[1:-1] if any(
            _hcover(hm, y, xs[c] + tol, xs[c + 1] - tol, tol) >= RULE_COVER for c in range(len(xs) - 1))] + [ys[-1]]
        keep_x = [xs[0]] + [x for x in xs[1:-1] if any(
            _vcover(vm, x, keep_y[r] + tol, keep_y[r + 1] - tol, tol) >= RULE_COVER
            for r in range(len(keep_y) - 1))] + [xs[-1]]
        if keep_x == xs and keep_y == ys:
            break
        xs, ys = keep_x, keep_y
    # Bands too thin to hold text are rule doublings (a thick or double rule), not rows/columns.
    xs = _merge_thin(xs, 0.8 * s)
    ys = _merge_thin(ys, 0.8 * s)
    if len(xs) < 3 or len(ys) < 3:
        return None
    nr, nc = len(ys) - 1, len(xs) - 1
    vsep = np.ones((nr, nc + 1), dtype=bool)
    hsep = np.ones((nr + 1, nc), dtype=bool)
    for r in range(nr):
        for c in range(1, nc):
            vsep[r, c] = _vcover(vm, xs[c], ys[r] + tol, ys[r + 1] - tol, tol) >= SEPARATOR_COVER
    for r in range(1, nr):
        for c in range(nc):
            hsep[r, c] = _hcover(hm, ys[r], xs[c] + tol, xs[c + 1] - tol, tol) >= SEPARATOR_COVER
    return Grid(xs, ys, vsep, hsep)


def _merge_thin(pos: list[int], min_gap: float) -> list[int]:
    out = [pos[0]]
    for p in pos[1:]:
        if p - out[-1] < min_gap:
            if len(out) == 1:  # keep the outer edge itself
                continue
            out[-1] = (out[-1] + p) // 2
        else:
            out.append(p)
    if len(out) >= 2 and out[-1] != pos[-1] and pos[-1] - out[-1] < min_gap:
        out[-1] = pos[-1]
    return out


# --------------------------------------------------------------------------- words → cells → text
_RULE_CHARS = "|¦[]_—"


def _lines_of(items: list[tuple[float, float, float, str, int]], height: float) -> list[list[tuple]]:
    """Words (cx, cy, left, text, index) of one cell grouped into lines by their centre height."""
    items = sorted(items, key=lambda t: t[1])
    lines: list[list[tuple]] = []
    for it in items:
        if lines and abs(it[1] - np.mean([w[1] for w in lines[-1]])) <= 0.5 * height:
            lines[-1].append(it)
        else:
            lines.append([it])
    return [sorted(line, key=lambda t: t[2]) for line in lines]


def read_tables_safely(img: Image.Image, res) -> Optional[TableReading]:
    """`read_tables` for an `OcrResult`; a failure here only loses the table layout, never the page.

    Kept in the page OCR cache beside the reading it was made from (pipeline/cache.py): a page read
    again from the cache is not searched for tables again (~0.1 s a page, ~0.4 s with a table)."""
    from congvan.pipeline import cache as page_cache

    cached = page_cache.cached_tables(res)
    if cached is not page_cache.MISS:
        return cached
    try:
        reading = read_tables(img, res.words, getattr(res, "rotated", 0), getattr(res, "angle", 0.0))
        if reading is None or reading.complete:
            page_cache.keep_tables(res, reading)
        return reading
    except Exception as exc:  # noqa: BLE001 - the page's plain OCR text is still good
        log.warning("ruled-table reading failed: %s: %s", type(exc).__name__, exc)
        return None


def read_tables(img: Image.Image, words: dict, rotated: int = 0, angle: float = 0.0,
                lang: str = "vie", timeout: float = 60.0) -> Optional[TableReading]:
    """The page re-read with its ruled tables, or None when it has none (or the geometry of the
    OCR's word boxes does not match the image: the page is then left as tesseract read it).

    `words` is tesseract's `image_to_data` dict for the page turned by `rotated` (OSD) and deskewed
    by `angle`, as `OcrResult` carries them. Cells that tesseract's page layout skipped or read
    badly (a lone "8" or "II" in the numbering column) are read again, in one tesseract call."""
    import cv2

    idx = _word_indices(words)
    if not idx:
        return None
    grey = page_grey(img, rotated, angle)
    page_boxes = [i for i, lv in enumerate(words["level"]) if lv == 1]
    if page_boxes:
        p = page_boxes[0]
        if abs(words["width"][p] - grey.width) > 2 or abs(words["height"][p] - grey.height) > 2:
            log.warning("OCR word boxes (%sx%s) do not match the page image (%sx%s): tables not read",
                        words["width"][p], words["height"][p], grey.width, grey.height)
            return None
    arr = np.asarray(grey, dtype=np.uint8)
    found = find_tables(arr, words, idx)
    if found is None:
        return None
    grids, ink, rules, s, matrix, centre = found
    if matrix is not None:
        h, w = arr.shape
        arr = cv2.warpAffine(arr, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    return _assemble(words, idx, centre, grids, ink, rules, s, arr, lang, timeout)


def find_tables(arr: np.ndarray, words: dict, idx: list[int]):
    """The page's ruled tables: (grids, ink, rules, text height, levelling matrix or None, word
    centres), all in the levelled frame; None when there is none. Also what ocr_regions asks so
    as to leave table cells to the cell re-read."""
    import cv2

    s = _text_height(words, idx)
    if s <= 0:
        return None
    ink = _ink(arr)
    masks = _rule_masks_if_any(ink, s)
    if masks is None:
        return None
    hmask, vmask = masks
    # Residual skew (under the OCR's deskew threshold): level the rules and the word centres alike.
    skew = rule_skew(hmask, 10 * s)
    h, w = arr.shape
    matrix = None
    if abs(skew) >= 0.1:
        matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), skew, 1.0)
        ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        hmask, vmask = rule_masks(ink, s)
    grids = find_grids(hmask, vmask, s)
    if not grids:
        return None
    rules = cv2.bitwise_or(hmask, vmask)

    centre: dict[int, tuple[float, float]] = {}
    for i in idx:
        cx = words["left"][i] + words["width"][i] / 2.0
        cy = words["top"][i] + words["height"][i] / 2.0
        if matrix is not None:
            cx, cy = (float(v) for v in matrix @ np.array([cx, cy, 1.0]))
        centre[i] = (cx, cy)
    grids = [g for g in grids if _looks_like_a_table(g, centre)]
    if not grids:
        return None
    return grids, ink, rules, s, matrix, centre


def table_boxes(arr: np.ndarray, words: dict) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) of each ruled table in the page's own (unlevelled) frame."""
    import cv2

    found = find_tables(arr, words, _word_indices(words))
    if found is None:
        return []
    grids, matrix = found[0], found[4]
    inverse = cv2.invertAffineTransform(matrix) if matrix is not None else None
    boxes = []
    for g in grids:
        x0, y0, x1, y1 = g.bbox
        corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]])
        if inverse is not None:
            corners = np.c_[corners[:, :2] @ inverse[:, :2].T + inverse[:, 2], np.ones(4)]
        boxes.append((float(corners[:, 0].min()), float(corners[:, 1].min()),
                      float(corners[:, 0].max()), float(corners[:, 1].max())))
    return boxes


MIN_CELLS = 6        # a 2 x 2 "grid" was a stamp ring crossed by signature strokes (harsh p4)
MIN_FILLED = 0.35    # share of cells holding a word: the sample tables 0.73-0.83, hatching 0.00


def _looks_like_a_table(g: Grid, centre: dict[int, tuple[float, float]]) -> bool:
    """Rules that enclose text in most of their cells. A signature's strokes and a stamp's ring
    also make crossing lines; what they enclose is mostly empty, or one block of text."""
    if g.nrows * g.ncols < MIN_CELLS:
        return False
    if not centre:
        return False
    # The band holding each centre: the last rule at or before it (rules ascend), inside the table.
    pts = np.array(list(centre.values()), dtype=np.float64)
    r = np.searchsorted(np.asarray(g.ys, dtype=np.float64), pts[:, 1], side="right") - 1
    c = np.searchsorted(np.asarray(g.xs, dtype=np.float64), pts[:, 0], side="right") - 1
    inside = (r >= 0) & (r < g.nrows) & (c >= 0) & (c < g.ncols)
    filled = np.unique(r[inside] * g.ncols + c[inside]).size
    return filled >= MIN_FILLED * g.nrows * g.ncols


def _assemble(words: dict, idx: list[int], centre: dict, grids: list[Grid], ink: np.ndarray,
              rules: np.ndarray, s: float, grey: np.ndarray, lang: str, timeout: float) -> Optional[TableReading]:
    words = {k: list(v) for k, v in words.items()}  # re-read cells add words: never touch the caller's
    idx = list(idx)
    where: dict[int, tuple[int, int, int]] = {}  # word → (table, row, col) of its merged cell's top-left
    text_of: dict[int, str] = {}
    cell_maps = [g.cells() for g in grids]
    owner = []
    for g, cells in zip(grids, cell_maps):
        o = {}
        for top_left, (r0, c0, r1, c1) in cells.items():
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    o[(r, c)] = top_left
        owner.append(o)
    for i in idx:
        cx, cy = centre[i]
        for t, g in enumerate(grids):
            rc = g.locate(cx, cy)
            if rc is None:
                continue
            word = unicodedata.normalize("NFC", words["text"][i].strip())
            x0, y0 = int(cx - words["width"][i] / 2), int(cy - words["height"][i] / 2)
            box_ink = ink[max(0, y0):y0 + words["height"][i], max(0, x0):x0 + words["width"][i]]
            box_rule = rules[max(0, y0):y0 + words["height"][i], max(0, x0):x0 + words["width"][i]]
            n_ink = int(np.count_nonzero(box_ink))
            if n_ink and np.count_nonzero(box_rule) >= 0.5 * n_ink:  # a rule read as "|" or "_"
                word = ""
            word = word.strip(_RULE_CHARS).strip()
            if word and not any(ch.isalnum() for ch in word) and float(words["conf"][i]) < NOISE_CONF:
                word = ""  # a speck in a cell read as "-" or "." with next to no confidence
            if word and _crosses_rule(g, rc, cy, words["height"][i], s):
                word = ""  # one "word" over several cells ("34567" down a numbering column): misread
            if word:
                where[i] = (t, *owner[t][rc])
                text_of[i] = word
            else:
                where[i] = (t, -1, -1)  # rule debris inside the table: dropped
            break
    if not any(r >= 0 for _, r, _ in where.values()):
        return None
    complete = _reread_cells(words, idx, where, text_of, centre, grids, cell_maps, grey, ink, rules, s, lang,
                             timeout)

    # Each table: rows of cells, a cell's words in lines by height, each line left to right.
    table_rows: list[list[list[Optional[list[list[int]]]]]] = []
    for t, (g, cells) in enumerate(zip(grids, cell_maps)):
        members: dict[tuple[int, int], list[int]] = {}
        for i, (tt, r, c) in where.items():
            if tt == t and r >= 0:
                members.setdefault((r, c), []).append(i)
        rows = []
        for r in range(g.nrows):
            row: list[Optional[list[int]]] = []
            for c in range(g.ncols):
                if (r, c) not in cells:
                    row.append(None)
                    continue
                items = [(centre[i][0], centre[i][1], centre[i][0] - words["width"][i] / 2, text_of[i], i)
                         for i in members.get((r, c), [])]
                lines = [[it[4] for it in line] for line in _lines_of(items, s)]
                _fix_roman([i for line in lines for i in line], text_of)
                row.append(lines)
            if all(x is None for x in row):
                continue
            rows.append(row)
        table_rows.append(rows)

    # Page text: outside words in tesseract's order, band by band around the tables.
    outside = [i for i in idx if i not in where]
    parts: list[list] = []  # ("text", [word indices]) | ("table", t)
    y = -np.inf
    for t, g in enumerate(grids):
        top, bottom = g.ys[0], g.ys[-1]
        if top < y:
            continue
        parts.append(("text", [i for i in outside if y <= centre[i][1] < top]))
        parts.append(("table", t))
        parts.append(("text", [i for i in outside if top <= centre[i][1] < bottom]))
        y = bottom
    parts.append(("text", [i for i in outside if centre[i][1] >= y]))

    out = _Writer(words, text_of)
    tables, spans = [], []
    for kind, what in parts:
        if kind == "text":
            out.prose(what)
            continue
        cells_out, spans_out = [], []
        out.block_start()
        for row in table_rows[what]:
            rc, rs = [], []
            for k, cell in enumerate(row):
                if k:
                    out.write("\t")
                if cell is None:
                    rc.append(None)
                    rs.append(None)
                    continue
                start = out.pos
                lines = []
                for n, line in enumerate(cell):
                    if n:
                        out.write(" ")
                    lines.append(out.words(line))
                rc.append("\n".join(lines))
                rs.append((start, out.pos))
            out.write("\n")
            cells_out.append(rc)
            spans_out.append(rs)
        tables.append(cells_out)
        spans.append(spans_out)
    text = out.text()
    return TableReading(text, out.word_dict(), tables, spans, complete)


def _crosses_rule(g: Grid, rc: tuple[int, int], cy: float, height: float, s: float) -> bool:
    """A word box reaching well across a horizontal rule of its column (into the next cell)."""
    r, c = rc
    top, bottom = cy - height / 2.0, cy + height / 2.0
    reach = max(2.0, s / 3.0)
    above = r > 0 and g.hsep[r, c] and top < g.ys[r] - reach
    below = r + 1 < g.nrows and g.hsep[r + 1, c] and bottom > g.ys[r + 1] + reach
    return bool(above or below)


# Serif Roman numerals, read alone, come out as "H" (II), "IH"/"HI" (III), "l"/"|" (I).
_ROMAN_LIKE = re.compile(r"[IVXHl|]{1,5}\.?")
_ROMAN = re.compile(r"(?:X{0,3})(?:IX|IV|V?I{0,3})\.?")
_BEFORE_ROMAN = {"quý", "phần", "chương", "mục", "giai đoạn"}


def _fix_roman(cell: list[int], text_of: dict[int, str]) -> None:
    """A cell holding only a Roman-numeral look-alike (the numbering of a group row), or such a token
    after "quý"/"phần"/…: restored when the restored form is a valid numeral (I–XXXIX)."""
    for k, i in enumerate(cell):
        w = text_of[i]
        if not (len(cell) == 1 or (k and text_of[cell[k - 1]].lower() in _BEFORE_ROMAN)):
            continue
        if not _ROMAN_LIKE.fullmatch(w) or _ROMAN.fullmatch(w):
            continue
        fixed = w.replace("H", "II").replace("l", "I").replace("|", "I")
        if _ROMAN.fullmatch(fixed) and fixed.rstrip("."):
            text_of[i] = fixed


def _reread_cells(words: dict, idx: list[int], where: dict, text_of: dict, centre: dict, grids: list[Grid],
                  cell_maps: list[dict], grey: np.ndarray, ink: np.ndarray, rules: np.ndarray, s: float,
                  lang: str, timeout: float) -> bool:
    """Cells with one line of ink but no word, or only a few words tesseract was unsure of, read
    again: their crops side by side on one line (tesseract's line model reads a lone digit far better
    with neighbours than alone or stacked), `--psm 7`, one call per REREAD_BATCH cells."""
    import cv2

    members: dict[tuple[int, int, int], list[int]] = {}
    for i, (t, r, c) in where.items():
        if r >= 0:
            members.setdefault((t, r, c), []).append(i)
    tol = max(2, int(round(s / 4)))
    wide_rules = cv2.dilate(rules, np.ones((3, 3), np.uint8)) > 0
    paper = int(_median_u8(grey))
    cands = []  # (key, old words, old mean confidence, crop, crop x0, crop y0)
    for t, (g, cells) in enumerate(zip(grids, cell_maps)):
        for (r0, c0), (_, _, r1, c1) in cells.items():
            old = members.get((t, r0, c0), [])
            conf = float(np.mean([float(words["conf"][i]) for i in old])) if old else -1.0
            if len(old) > 3 or conf >= REREAD_CONF:
                continue
            x0, x1 = g.xs[c0] + tol, g.xs[c1 + 1] - tol
            y0, y1 = g.ys[r0] + tol, g.ys[r1 + 1] - tol
            if x1 <= x0 or y1 <= y0:
                continue
            sub = (ink[y0:y1, x0:x1] > 0) & ~wide_rules[y0:y1, x0:x1]
            if sub.sum() < 0.05 * s * s:
                continue
            ys, xs = np.nonzero(sub)
            height = ys.max() - ys.min() + 1
            if height > 1.8 * s or height < 0.3 * s:
                continue
            crop = grey[y0 + ys.min():y0 + ys.max() + 1, x0 + xs.min():x0 + xs.max() + 1].copy()
            crop[wide_rules[y0 + ys.min():y0 + ys.max() + 1, x0 + xs.min():x0 + xs.max() + 1]] = paper
            cands.append(((t, r0, c0), old, conf, crop, x0 + int(xs.min()), y0 + int(ys.min())))
    for b in range(0, min(len(cands), REREAD_MAX), REREAD_BATCH):
        batch = cands[b:b + REREAD_BATCH]
        pad = int(round(s))
        height = max(c[3].shape[0] for c in batch) + 2 * pad
        strip = np.full((height, sum(c[3].shape[1] + pad for c in batch) + pad), paper, np.uint8)
        places, x = [], pad
        for c in batch:
            ch, cw = c[3].shape
            y = (height - ch) // 2
            strip[y:y + ch, x:x + cw] = c[3]
            places.append((x, y, cw))
            x += cw + pad
        read = _tesseract_chars(Image.fromarray(strip), lang, timeout)
        if read is None:
            return False
        got = _pieces_by_place(read, places, pad, strip < min(160, paper - 50), 0.25 * s)
        for k, pieces in got.items():
            key, old, conf, _, ox, oy = batch[k]
            new_conf = float(np.mean([p[4] for p in pieces]))
            # An empty cell takes any reading with a letter or digit (tesseract gives the lone "Số TT"
            # of a header confidence 0 yet reads it right); a read cell only a clearly surer one.
            if not any(ch.isalnum() for p in pieces for ch in p[5]) or (old and new_conf <= conf + 10):
                continue
            for i in old:
                where[i] = (key[0], -1, -1)
            px, py, _ = places[k]
            for left, top, width, height, pconf, text in sorted(pieces):
                n = len(words["text"])
                for values in words.values():
                    values.append(0)
                words["level"][n] = 5
                words["left"][n] = ox + left - px
                words["top"][n] = oy + top - py
                words["width"][n], words["height"][n] = width, height
                words["conf"][n], words["text"][n] = pconf, text
                centre[n] = (words["left"][n] + width / 2.0, words["top"][n] + height / 2.0)
                text_of[n] = unicodedata.normalize("NFC", text.strip())
                where[n] = key
                idx.append(n)
    return True


def _median_u8(arr: np.ndarray) -> float:
    """`np.median` of a uint8 image, from its histogram: the same value (the mean of the two middle
    values for an even count) in one pass instead of a partition of a page-sized copy (~60 ms)."""
    counts = np.cumsum(np.bincount(arr.ravel(), minlength=256))
    n = int(counts[-1])
    lo = int(np.searchsorted(counts, (n - 1) // 2 + 1))  # value at sorted index (n - 1) // 2
    hi = int(np.searchsorted(counts, n // 2 + 1))  # value at sorted index n // 2
    return (lo + hi) / 2.0


def _pieces_by_place(read: list[tuple[float, list[tuple]]], places: list[tuple[int, int, int]], pad: int,
                     ink: np.ndarray, space: float) -> dict[int, list[tuple]]:
    """Words of the strip by the crop they fall on: {crop: [(left, top, width, height, conf, text)]}.

    Cut by character boxes, not tesseract's words: its line model runs neighbouring crops into one
    word ("34567" from five numbering cells) and drops narrow spaces ("SốTT"); a word is cut where its
    characters fall on different crops or where an ink-free gap of `space` pixels lies between them."""
    out: dict[int, list[tuple]] = {}

    def place_of(x: float) -> int:
        inside = [n for n, (px, _, pw) in enumerate(places) if px - pad / 2 <= x < px + pw + pad / 2]
        if inside:
            return inside[0]
        return int(np.argmin([min(abs(x - px), abs(x - px - pw)) for px, _, pw in places]))

    blank = ~ink.any(axis=0)

    def gap(a: float, b: float) -> int:
        """Longest run of ink-free columns between x = a and x = b."""
        run = best = 0
        for v in blank[int(a):int(b)]:
            run = run + 1 if v else 0
            best = max(best, run)
        return best

    for conf, chars in read:
        groups: list[list[tuple]] = []
        for ch in chars:
            x0, y0, x1, y1, text = ch
            k = place_of((x0 + x1) / 2.0)
            if groups:
                px0, _, px1, _, _ = groups[-1][-1]
                same = place_of((px0 + px1) / 2.0) == k and gap((px0 + px1) / 2.0, (x0 + x1) / 2.0) < space
                if same:
                    groups[-1].append(ch)
                    continue
            groups.append([ch])
        for g in groups:
            x0 = min(c[0] for c in g)
            y0 = min(c[1] for c in g)
            x1 = max(c[2] for c in g)
            y1 = max(c[3] for c in g)
            text = "".join(c[4] for c in g)
            if text.strip():
                out.setdefault(place_of((x0 + x1) / 2.0), []).append((x0, y0, max(1, x1 - x0), max(1, y1 - y0), conf, text))
    return out


NOISE_CONF = 30.0  # lone punctuation in a cell under this confidence is noise (list dashes read at ~90)
REREAD_CONF = 50.0  # a cell whose words average under this is read again
REREAD_BATCH = 20  # crops per tesseract call
REREAD_MAX = 80  # crops per page at most


_HOCR_SPAN = re.compile(r"<span class='ocrx_word'[^>]*?x_wconf (\d+)'>"
                        r"|<span class='ocrx_cinfo' title='x_bboxes (\d+) (\d+) (\d+) (\d+);[^']*'>(.*?)</span>", re.S)


def _tesseract_chars(img: Image.Image, lang: str, timeout: float) -> Optional[list[tuple[float, list[tuple]]]]:
    """One line read by tesseract (`--psm 7`) as [(word confidence, [(x0, y0, x1, y1, char)])] from its
    hOCR with character boxes; None when tesseract fails (the cells keep their first reading)."""
    import html

    from congvan.pipeline.ocr import tesseract_hocr  # in-process tesseract, or the CLI handed a PPM

    try:
        hocr = tesseract_hocr(img, lang, 7, timeout)
    except Exception as exc:  # noqa: BLE001
        log.warning("re-reading table cells failed: %s: %s", type(exc).__name__, exc)
        return None
    out: list[tuple[float, list[tuple]]] = []
    for m in _HOCR_SPAN.finditer(hocr):
        if m.group(1) is not None:
            out.append((float(m.group(1)), []))
        elif out:
            out[-1][1].append((int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                               html.unescape(m.group(6))))
    return [w for w in out if w[1]]


class _Writer:
    """Builds the page text and the word order behind it at once."""

    def __init__(self, words: dict, text_of: dict[int, str]):
        self.data, self.text_of = words, text_of
        self.buf: list[str] = []
        self.pos = 0
        self.order: list[int] = []
        self.texts: list[str] = []

    def write(self, s: str) -> None:
        self.buf.append(s)
        self.pos += len(s)

    def block_start(self) -> None:
        if self.pos:
            self.write("\n")  # a blank line before a new block

    def words(self, indices: list[int]) -> str:
        parts = []
        for n, i in enumerate(indices):
            if n:
                self.write(" ")
            w = self.text_of.get(i) or unicodedata.normalize("NFC", (self.data["text"][i] or "").strip())
            self.write(w)
            self.order.append(i)
            self.texts.append(w)
            parts.append(w)
        return " ".join(parts)

    def prose(self, indices: list[int]) -> None:
        """Words outside tables, as tesseract laid them out (lines; a blank line between blocks)."""
        cur_line = cur_block = None
        for i in indices:
            d = self.data
            key = (d["block_num"][i], d["par_num"][i], d["line_num"][i])
            if key != cur_line:
                if cur_line is None:
                    self.block_start()
                elif key[:2] != cur_block:
                    self.write("\n\n")
                else:
                    self.write("\n")
                cur_line, cur_block = key, key[:2]
                self.words([i])
            else:
                self.write(" ")
                self.words([i])
        if cur_line is not None:
            self.write("\n")

    def text(self) -> str:
        return "".join(self.buf).strip("\n")

    def word_dict(self) -> dict:
        out = {k: [v[i] for i in self.order] for k, v in self.data.items()}
        out["text"] = list(self.texts)
        return out
