"""OCR benchmark: raw tesseract vs the pipeline's acquired text vs the same after `postcorrect`.

For every `samples/*-garbled.pdf`, `*-scan.pdf`, `*-harsh.pdf` with a `<stem>.gt.txt`:

- (a) **raw**: `tesseract img - -l vie` at default settings on the page rendered at 300 dpi
  (for garbled files, whose pages carry a text layer, raw is the layer as pdfplumber reads it);
- (b) **pipeline**: `congvan.pipeline.acquire.acquire` (text layer / repair / preprocessed OCR,
  including whatever correction the OCR path already does);
- (c) **postcorrect**: `congvan.pipeline.postcorrect.postcorrect` applied to the pipeline's text
  before any correction (`Page.original` for OCR pages, with tesseract's word confidences).

Scores are computed per page (pages split at `\\f` in the ground truth) after NFC and whitespace
folding. Plain CER punishes reading order: the ground truth reads the left header column before the
right one, tesseract and pdfplumber often read across. The **headline is `cer`: order-robust CER** —
each hypothesis line is placed at the position where it aligns best in the page's ground truth
(rapidfuzz partial alignment), lines are re-joined in that order, then ordinary CER is taken. Plain
CER (`cer_plain`) and CER over sorted words (`cer_bag`) are reported too.

False corrections: a word of the pre-correction text that matched the ground truth (word alignment)
and was changed by `postcorrect`, as % of such correct words. Raw tesseract output is cached under
`data/cache/ocr/` by page-image hash, and so is the pipeline's tesseract TSV, so reruns take seconds.

Run: `python -m benchmarks.ocr [SAMPLES_DIR]`; results go to `benchmarks/results/ocr.json`.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "cache" / "ocr"
RESULTS = Path(__file__).resolve().parent / "results" / "ocr.json"
VARIANTS = {"garbled": "*-garbled.pdf", "scan": "*-scan.pdf", "harsh": "*-harsh.pdf"}
RAW_DPI = 300
COLUMNS = ("raw", "raw_postcorrect", "pipeline_uncorrected", "pipeline", "postcorrect")


# --------------------------------------------------------------------------- scoring
def normalise(text: str) -> str:
    """NFC, all whitespace runs folded to one space."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def cer(ref: str, hyp: str) -> float:
    ref, hyp = normalise(ref), normalise(hyp)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def wer(ref: str, hyp: str) -> float:
    r, h = normalise(ref).split(), normalise(hyp).split()
    return Levenshtein.distance(r, h) / max(1, len(r))


def _place(words: list[str], ref: str, lo: int = 0, depth: int = 0) -> list[tuple[float, int, int]]:
    """(position in ref, first word, end word) pieces of a line; a line that reads across two
    columns is split where its halves align much better separately."""
    line = " ".join(words)
    al = fuzz.partial_ratio_alignment(line, ref)
    whole = [(float(al.dest_start) if al.score >= 50 else -1.0, lo, lo + len(words))]
    if al.score >= 95 or len(words) < 4 or depth >= 2:
        return whole
    best = None
    for k in range(2, len(words) - 1):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        sa, sb = fuzz.partial_ratio_alignment(a, ref), fuzz.partial_ratio_alignment(b, ref)
        comb = (sa.score * len(a) + sb.score * len(b)) / (len(a) + len(b))
        if best is None or comb > best[0]:
            best = (comb, k)
    if best and best[0] > al.score + 5:
        k = best[1]
        return _place(words[:k], ref, lo, depth + 1) + _place(words[k:], ref, lo + k, depth + 1)
    return whole


def layout(ref: str, hyp: str) -> list[list[tuple[float, int, int]]]:
    """Per hypothesis line (after whitespace folding), where its pieces go in the reference."""
    ref_n = normalise(ref)
    out = []
    for line in hyp.splitlines():
        words = normalise(line).split()
        out.append(_place(words, ref_n) if len(" ".join(words)) >= 4 and ref_n else [(-1.0, 0, len(words))])
    return out


def _remap(pieces: list[tuple[float, int, int]], old: list[str], new: list[str]) -> list[tuple[float, int, int]]:
    """Move word-index cut points from `old` words to `new` words (a word alignment)."""
    where = list(range(len(old) + 1))
    for op in Levenshtein.opcodes(old, new):
        for i in range(op.src_start, op.src_end + 1):
            if op.tag in ("equal", "replace") and op.src_end - op.src_start == op.dest_end - op.dest_start:
                where[i] = op.dest_start + (i - op.src_start)
            else:
                where[i] = op.dest_start if i < op.src_end else op.dest_end
    where[len(old)] = len(new)
    return [(pos, where[min(a, len(old))], where[min(b, len(old))]) for pos, a, b in pieces]


def reorder_like(ref: str, hyp: str, like: str | None = None) -> str:
    """Hypothesis lines sorted by where each aligns best in `ref` (undoes block-order differences).

    A line that pdfplumber or tesseract read straight across the two header columns is split where
    its halves align much better separately; unplaceable lines (junk) stay after their predecessor.
    With `like` (the same text before correction, same lines), its layout is reused, so that a
    correction is never scored as a reading-order change."""
    lines = [normalise(x).split() for x in hyp.splitlines()]
    lay = layout(ref, like if like is not None else hyp)
    if like is not None and len(like.splitlines()) != len(lines):
        lay = layout(ref, hyp)
    like_words = [normalise(x).split() for x in like.splitlines()] if like is not None else []
    placed: list[tuple[float, int, str]] = []
    for words, pieces in zip(lines, lay):
        if not words:
            if like_words:
                like_words.pop(0)
            continue
        if pieces and pieces[-1][2] != len(words):  # words dropped or added: map the cut points
            pieces = _remap(pieces, like_words.pop(0) if like_words else [], words)
        elif like_words:
            like_words.pop(0)
        for pos, a, b in pieces:
            if pos < 0:
                pos = placed[-1][0] if placed else 0.0
            placed.append((pos, len(placed), " ".join(words[a:b])))
    placed.sort()
    return " ".join(t for _, _, t in placed if t)


def scores(ref: str, hyp: str, like: str | None = None) -> dict:
    ordered = reorder_like(ref, hyp, like)
    return {
        "cer": cer(ref, ordered),
        "wer": wer(ref, ordered),
        "cer_plain": cer(ref, hyp),
        "cer_bag": cer(" ".join(sorted(normalise(ref).split())), " ".join(sorted(normalise(hyp).split()))),
        "chars": len(normalise(ref)),
    }


def _word_opcodes(a: list[str], b: list[str]):
    return Levenshtein.opcodes(a, b)


def correction_effect(ref: str, before: str, after: str) -> dict:
    """Words of `before` that were right and got changed (false), wrong and got fixed (fixed)."""
    r = normalise(ref).split()
    b = normalise(reorder_like(ref, before)).split()
    a = normalise(reorder_like(ref, after, like=before)).split()
    correct = set()
    for op in _word_opcodes(b, r):
        if op.tag == "equal":
            correct.update(range(op.src_start, op.src_end))
    changed = set()
    for op in _word_opcodes(b, a):
        if op.tag != "equal":
            changed.update(range(op.src_start, max(op.src_end, op.src_start + 1)))
    changed &= set(range(len(b)))
    right_after = 0
    for op in _word_opcodes(a, r):
        if op.tag == "equal":
            right_after += op.src_end - op.src_start
    false = len(changed & correct)
    return {
        "correct_words_before": len(correct),
        "changed_words": len(changed),
        "false_corrections": false,
        "false_rate": false / max(1, len(correct)),
        "correct_words_after": right_after,
    }


# --------------------------------------------------------------------------- OCR with a cache
def _img_key(img, *parts: str) -> str:
    h = hashlib.sha256()
    h.update(f"{img.mode}{img.size}".encode())
    h.update(img.tobytes())
    for p in parts:
        h.update(p.encode())
    return h.hexdigest()[:32]


def raw_tesseract(img, lang: str = "vie") -> str:
    """`tesseract img - -l <lang>` at its defaults (psm 3, no preprocessing), cached by image hash."""
    import pytesseract

    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"raw-{_img_key(img, lang)}.txt"
    if f.exists():
        return f.read_text(encoding="utf-8")
    text = pytesseract.image_to_string(img, lang=lang)
    f.write_text(text, encoding="utf-8")
    return text


def _render_pages(path: Path, dpi: int) -> list:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return [doc[i].render(scale=dpi / 72).to_pil() for i in range(len(doc))]
    finally:
        doc.close()


_TSV_BY_TEXT: dict[str, dict] = {}


def _install_tsv_cache() -> None:
    """Wrap the pipeline's tesseract call: cache its TSV by image hash and remember it by text,
    so the benchmark gets word confidences for exactly the text `acquire` returned."""
    from congvan.pipeline import ocr as ocr_mod

    if getattr(ocr_mod.tesseract_words, "_bench_cached", False):
        return
    inner = ocr_mod.tesseract_words

    def cached(img, lang, psm, timeout):
        CACHE.mkdir(parents=True, exist_ok=True)
        f = CACHE / f"tsv-{_img_key(img, lang, str(psm))}.json"
        if f.exists():
            data = json.loads(f.read_text(encoding="utf-8"))
        else:
            data = inner(img, lang, psm, timeout)
            f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        text, _ = ocr_mod._tsv_to_text(data)
        _TSV_BY_TEXT[unicodedata.normalize("NFC", text)] = data
        return data

    cached._bench_cached = True  # type: ignore[attr-defined]
    ocr_mod.tesseract_words = cached


# --------------------------------------------------------------------------- the run
def _split_pages(gt: str) -> list[str]:
    return gt.split("\f")


def _summarise(rows: list[dict], key: str) -> dict:
    """Character-weighted means over pages."""
    chars = sum(r["gt_chars"] for r in rows) or 1
    out = {}
    for m in ("cer", "wer", "cer_plain", "cer_bag"):
        out[m] = sum(r[key][m] * r["gt_chars"] for r in rows) / chars
    return out


def run_benchmark(samples_dir: Path, variants: list[str] | None = None, write: bool = True,
                  verbose: bool = True) -> dict:
    """Score raw tesseract, the pipeline and the pipeline + postcorrect on the samples; returns the JSON dict."""
    from congvan.config import Settings
    from congvan.pipeline.acquire import acquire
    from congvan.pipeline.postcorrect import confidences_from_tsv, postcorrect

    _install_tsv_cache()
    settings = Settings()
    samples_dir = Path(samples_dir)
    files: dict = {}
    t_start = time.monotonic()
    for variant in variants or list(VARIANTS):
        for path in sorted(samples_dir.glob(VARIANTS[variant])):
            gt_path = path.with_name(path.stem + ".gt.txt")
            if not gt_path.exists():
                continue
            gt_pages = _split_pages(gt_path.read_text(encoding="utf-8"))
            t0 = time.monotonic()
            doc = acquire(path, settings)
            t_acq = time.monotonic() - t0
            if variant == "garbled":
                import pdfplumber

                with pdfplumber.open(path) as pdf:
                    raw_pages = [p.extract_text() or "" for p in pdf.pages]
            else:
                imgs = _render_pages(path, RAW_DPI)
                with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as ex:
                    raw_pages = list(ex.map(lambda im: raw_tesseract(im, settings.ocr_lang), imgs))
            t0 = time.monotonic()
            pages = []
            n_changes = 0
            for i, page in enumerate(doc.pages):
                gt = gt_pages[i] if i < len(gt_pages) else ""
                before = page.original if page.source == "ocr" else page.text
                confs = None
                if page.source == "ocr":
                    data = _TSV_BY_TEXT.get(unicodedata.normalize("NFC", before))
                    if data is not None:
                        confs = confidences_from_tsv(data, before)
                corr = postcorrect(before, confidences=confs)
                n_changes += len(corr.changes)
                pages.append({
                    "page": i + 1,
                    "gt_chars": len(normalise(gt)),
                    "source": page.source,
                    "raw": scores(gt, raw_pages[i] if i < len(raw_pages) else ""),
                    "raw_postcorrect": scores(gt, postcorrect(raw_pages[i]).text, like=raw_pages[i])
                    if i < len(raw_pages) else scores(gt, ""),
                    "pipeline": scores(gt, page.text),
                    "pipeline_uncorrected": scores(gt, before),
                    "postcorrect": scores(gt, corr.text, like=before),
                    "effect": correction_effect(gt, before, corr.text),
                })
            t_pc = time.monotonic() - t0
            eff = {k: sum(p["effect"][k] for p in pages) for k in
                   ("correct_words_before", "changed_words", "false_corrections", "correct_words_after")}
            eff["false_rate"] = eff["false_corrections"] / max(1, eff["correct_words_before"])
            files[path.name] = {
                "variant": variant,
                "pages": pages,
                "seconds_acquire": round(t_acq, 2),
                "seconds_postcorrect": round(t_pc, 3),
                "changes": n_changes,
                "effect": eff,
                **{k: _summarise(pages, k) for k in COLUMNS},
            }
    by_variant: dict = {}
    for variant in variants or list(VARIANTS):
        rows = [p for f in files.values() if f["variant"] == variant for p in f["pages"]]
        if not rows:
            continue
        eff = {k: sum(p["effect"][k] for p in rows) for k in
               ("correct_words_before", "changed_words", "false_corrections", "correct_words_after")}
        eff["false_rate"] = eff["false_corrections"] / max(1, eff["correct_words_before"])
        by_variant[variant] = {
            "files": sorted(n for n, f in files.items() if f["variant"] == variant),
            "pages": len(rows),
            **{k: _summarise(rows, k) for k in COLUMNS},
            "effect": eff,
        }
    result = {
        "headline": "cer = order-robust CER (hypothesis lines placed where they align in the ground truth)",
        "raw": f"tesseract -l vie at defaults on {RAW_DPI} dpi renders (garbled: pdfplumber text layer)",
        "variants": by_variant,
        "files": files,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if verbose:
        print_table(result)
    return result


def print_table(result: dict) -> None:
    cols = COLUMNS
    short = {"raw": "(a) raw tesseract", "raw_postcorrect": "raw + postcorrect",
             "pipeline_uncorrected": "pipeline, uncorrected", "pipeline": "(b) pipeline",
             "postcorrect": "(c) + postcorrect"}
    print("CER = order-robust CER (headline); plain = reading-order CER; WER order-robust. Char-weighted means.")
    head = f"{'variant / file':22s}" + "".join(f" | {short[c]:>21s}" for c in cols) + " | false corr.   fixed"
    print(head)
    print(f"{'':22s}" + " | {:>6s} {:>6s} {:>6s} ".format("CER", "plain", "WER") * len(cols))
    print("-" * len(head))

    def line(name: str, row: dict) -> str:
        s = f"{name:22s}"
        for c in cols:
            m = row[c]
            s += f" | {100 * m['cer']:5.2f}% {100 * m['cer_plain']:5.1f}% {100 * m['wer']:5.1f}% "
        e = row["effect"]
        fixed = e["correct_words_after"] - e["correct_words_before"]
        s += f" | {e['false_corrections']:3d} ({100 * e['false_rate']:.2f}%) {fixed:+4d}"
        return s

    for variant, v in result["variants"].items():
        for name in v["files"]:
            print(line("  " + name, result["files"][name]))
        print(line(variant.upper(), v))
        print()
    print("Bag-of-words CER (sorted words; ignores order entirely, incl. table cells):")
    for variant, v in result["variants"].items():
        print(f"  {variant:8s} " + "  ".join(f"{short[c]} {100 * v[c]['cer_bag']:.2f}%" for c in cols))


if __name__ == "__main__":
    args = sys.argv[1:]
    run_benchmark(Path(args[0]) if args else ROOT / "samples", args[1:] or None)
