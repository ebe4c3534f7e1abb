"""The faster image work around tesseract gives what the plain calls gave, pixel for pixel."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from congvan.pipeline import ocr, ocr_tables

cv2 = pytest.importorskip("cv2")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _cv_open(ink: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (w, h)))


def test_line_opening_on_packed_bits_matches_opencv():
    """Both kernel parities, kernels longer than the image, runs touching every border."""
    rng = np.random.default_rng(7)
    for trial in range(600):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 80))
        ink = ((rng.random((h, w)) < rng.random() * 0.95 + 0.04) * 255).astype(np.uint8)
        if trial % 3 == 0:
            ink[:, rng.integers(0, w)] = 255
            ink[rng.integers(0, h), :] = 255
        length = int(rng.integers(1, 60))
        assert np.array_equal(ocr_tables._open(ink, length, 1), _cv_open(ink, length, 1))
        assert np.array_equal(ocr_tables._open(ink, 1, length), _cv_open(ink, 1, length))


def test_rule_masks_if_any_is_rule_masks_or_none():
    rng = np.random.default_rng(3)
    for trial in range(300):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 90))
        ink = ((rng.random((h, w)) < rng.random() * 0.9 + 0.05) * 255).astype(np.uint8)
        s = float(rng.integers(1, 20))
        hmask, vmask = ocr_tables.rule_masks(ink, s)
        got = ocr_tables._rule_masks_if_any(ink, s)
        if hmask.any() and vmask.any():
            assert got is not None and np.array_equal(got[0], hmask) and np.array_equal(got[1], vmask)
        else:
            assert got is None


def test_components_box_16_bit_labels_match_the_32_bit_call_on_the_ink_box():
    """Same labels, stats and centroids as the 32-bit call on the same box (the box, as before: its
    labels may be numbered in another order than a whole-mask call's)."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        mask = np.zeros((120, 160), np.uint8)
        for _ in range(int(rng.integers(1, 8))):
            y, x = int(rng.integers(0, 110)), int(rng.integers(0, 150))
            mask[y:y + int(rng.integers(1, 10)), x:x + int(rng.integers(1, 40))] = 255
        n, sub, stats, cents, ox, oy = ocr_tables._components_box(mask)
        x, y, w, h = cv2.boundingRect(mask)
        assert (ox, oy) == (x, y) and sub.shape == (h, w)
        n0, labels0, stats0, cents0 = cv2.connectedComponentsWithStats(np.ascontiguousarray(mask[y:y + h, x:x + w]),
                                                                        connectivity=8)
        assert n == n0 and (sub == labels0).all()
        assert (stats[1:, :2] == stats0[1:, :2] + (x, y)).all() and (stats[1:, 2:] == stats0[1:, 2:]).all()
        assert np.allclose(cents[1:], cents0[1:] + (x, y))
    n, _, stats, _, _, _ = ocr_tables._components_box(np.zeros((20, 30), np.uint8))
    assert n == 1 and tuple(stats[0]) == (0, 0, 30, 20, 600)
    many = np.zeros((1000, 1000), np.uint8)
    many[::3, ::3] = 255  # 111,556 components: over 16 bits, the 32-bit call answers
    assert ocr_tables._components_box(many)[0] == 111557


def _full_sweep(grey: Image.Image, max_angle: float = 6.0, step: float = 0.25) -> float:
    """estimate_skew as it was: all 49 angles."""
    small = grey.copy()
    small.thumbnail((800, 800))
    ink = (np.asarray(small, dtype=np.uint8) < 128).astype(np.uint8) * 255
    if ink.mean() < 0.5:
        return 0.0
    im = Image.fromarray(ink)
    best, best_score = 0.0, -1.0
    for a in np.arange(-max_angle, max_angle + 1e-9, step):
        rot = np.asarray(im.rotate(float(a), resample=Image.NEAREST, fillcolor=0))
        score = float(np.var(np.diff((np.count_nonzero(rot, axis=1) * 255).astype(np.float32))))
        if score > best_score:
            best, best_score = float(a), score
    return best


def test_coarse_to_fine_skew_picks_the_full_sweeps_angle():
    page = Image.new("L", (1240, 1754), 255)
    d = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 28)
    line = "Cộng hòa xã hội chủ nghĩa Việt Nam, độc lập tự do hạnh phúc " * 2
    for i in range(40):
        d.text((120, 100 + 38 * i), line, font=font, fill=0)
    for angle in (0.0, 0.4, -1.1, 2.3, -3.6, 5.2):
        turned = page.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
        assert ocr.estimate_skew(turned) == _full_sweep(turned)


def test_shrink_over_the_inked_rows_matches_the_whole_resize():
    from congvan.pipeline import ocr_regions

    rng = np.random.default_rng(2)
    for t in range(400):
        h = int(rng.integers(1, 60)) * 4 + (int(rng.integers(1, 4)) if t % 5 == 0 else 0)  # and heights it can't crop
        w = int(rng.integers(4, 300))
        ink = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 6))):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            ink[y:y + int(rng.integers(1, 12)), x:x + int(rng.integers(1, 60))] = 1
        if not ink.any():
            continue
        size = (max(1, w // 4), max(1, h // 4))
        assert np.array_equal(ocr_regions._shrink(ink, size), cv2.resize(ink, size, interpolation=cv2.INTER_AREA))
