"""OCR/repair benchmark (`congvan bench-ocr`, `make bench-ocr`): raw tesseract vs the pipeline.

For every `samples/*-garbled.pdf`, `*-scan.pdf`, `*-harsh.pdf`, `*-scan-p*.png` and `*.tiff` with a
`<stem>.gt.txt` (pages split at `\\f`):

- **raw**: `tesseract img - -l vie` at its defaults on the page rendered at 300 dpi (images as they
  are); for garbled files, whose pages carry a text layer, raw is the layer as pdfplumber reads it;
- **raw + postcorrect**: `postcorrect` on raw tesseract's text (no word confidences);
- **pipeline, uncorrected**: what `acquire` read before post-correction (`Page.original` on OCR pages);
- **pipeline**: `acquire`'s final text (repaired layer, or preprocessed OCR + `postcorrect`).

Scores per page after NFC and whitespace folding. Plain CER punishes reading order: the ground truth
reads the left header column before the right one and tables cell by cell, tesseract often reads
across. The **headline `cer` is order-robust**: each hypothesis line is placed where it aligns best
in the page's ground truth (a line read across two columns is split where its halves align much
better), lines are re-joined in that order, then ordinary CER is taken. Plain CER (`cer_plain`) and
CER over sorted words (`cer_bag`, order ignored entirely) are reported too.

False corrections: words of the uncorrected text that matched the ground truth (word alignment) and
were changed by post-correction, as % of such correct words. Tesseract output is cached under
`data/cache/ocr/` by page-image hash (raw text, and the pipeline's TSV), so reruns take seconds; the
pipeline's own page cache is off here (its arbitration between readings uses the held-out LM).
Results go to `benchmarks/results/ocr.json`.
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

CACHE = Path("data") / "cache" / "ocr"
RESULTS = Path("benchmarks") / "results" / "ocr.json"
VARIANTS = {"garbled": ("*-garbled.pdf",), "scan": ("*-scan.pdf",), "harsh": ("*-harsh.pdf",),
            "image": ("*-scan-p*.png", "*.tiff")}
RAW_DPI = 300
HELD_OUT_BIGRAMS = 0.8  # share of a ground truth's syllable pairs its source seed holds (_held_out_text)
COLUMNS = ("raw", "raw_postcorrect", "pipeline_uncorrected", "pipeline")


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


def _align(text: str, ref: str, after: int) -> tuple[float, int]:
    """(score, start in ref) of `text`'s best partial alignment. A phrase that occurs twice ("phiên
    họp của Hội đồng Thi đua" in the subject and again in the body) aligns equally well in both
    places; then the place nearest to where the previous line ended wins (reading continuity)."""
    al = fuzz.partial_ratio_alignment(text, ref)
    if not (0 < after < len(ref)):
        return al.score, al.dest_start
    cands = [(al.score, al.dest_start)]
    for lo, hi in ((0, after), (after, len(ref))):
        if hi - lo >= len(text) // 2:
            x = fuzz.partial_ratio_alignment(text, ref[lo:hi])
            if x is not None:
                cands.append((x.score, x.dest_start + lo))
    top = max(c[0] for c in cands)
    return min((c for c in cands if c[0] >= top - 1.0), key=lambda c: abs(c[1] - after))


def _place(words: list[str], ref: str, lo: int = 0, depth: int = 0, after: int = 0) -> list[tuple[float, int, int]]:
    """(position in ref, first word, end word) pieces of a line; a line that reads across two
    columns is split where its halves align much better separately."""
    line = " ".join(words)
    score, start = _align(line, ref, after)
    whole = [(float(start) if score >= 50 else -1.0, lo, lo + len(words))]
    if score >= 95 or len(words) < 4 or depth >= 2:
        return whole
    best = None
    for k in range(2, len(words) - 1):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        sa, sb = _align(a, ref, after)[0], _align(b, ref, after)[0]
        comb = (sa * len(a) + sb * len(b)) / (len(a) + len(b))
        if best is None or comb > best[0]:
            best = (comb, k)
    if best and best[0] > score + 5:
        k = best[1]
        return _place(words[:k], ref, lo, depth + 1, after) + _place(words[k:], ref, lo + k, depth + 1, after)
    return whole


def layout(ref: str, hyp: str) -> list[list[tuple[float, int, int]]]:
    """Per hypothesis line (after whitespace folding), where its pieces go in the reference."""
    ref_n = normalise(ref)
    out, after = [], 0
    for line in hyp.splitlines():
        words = normalise(line).split()
        if len(" ".join(words)) >= 4 and ref_n:
            pieces = _place(words, ref_n, after=after)
            pos, a, b = pieces[-1]
            if pos >= 0:
                after = int(pos) + len(" ".join(words[a:b]))
        else:
            pieces = [(-1.0, 0, len(words))]
        out.append(pieces)
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
    plain = like is None or cer(ref, like) <= cer(ref, reorder_like(ref, like))
    # The headline takes the better of the two alignments of the same lines: the text as read, or
    # its lines placed in the ground truth's order (decided on `like`, the uncorrected text, so a
    # correction is never scored as a reading-order change).
    use_plain = plain and cer(ref, hyp) <= cer(ref, ordered) if like is None else plain
    best = hyp if use_plain else ordered
    return {
        "cer": cer(ref, best),
        "wer": wer(ref, best),
        "cer_plain": cer(ref, hyp),
        "cer_bag": bag_cer(ref, hyp),
        "chars": len(normalise(ref)),
    }


def bag_cer(ref: str, hyp: str) -> float:
    """CER over sorted words: reading order ignored entirely."""
    return cer(" ".join(sorted(normalise(ref).split())), " ".join(sorted(normalise(hyp).split())))


_GARBLED = re.compile(r"(?<=[^\W\d_])[\u00a1-\u00bf]|[\u00a1-\u00bf](?=[^\W\d_])|(?<=[^\W\d_])=(?![\w])|(?<![\w])<(?=[^\W\d_])")


def garbled_left(text: str) -> int:
    """Broken-font debris still in a text: Latin-1 symbols (° ¡ ¯ ¢ …) touching a letter, and
    '<'/'=' glued to a word as the broken font's quotes."""
    return len(_GARBLED.findall(unicodedata.normalize("NFC", text)))


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
    """PDF pages rendered at `dpi`; image files frame by frame as they are."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageSequence

    if path.suffix.lower() != ".pdf":
        with Image.open(path) as im:
            return [f.convert("RGB") for f in ImageSequence.Iterator(im)]
    doc = pdfium.PdfDocument(str(path))
    try:
        return [doc[i].render(scale=dpi / 72).to_pil() for i in range(len(doc))]
    finally:
        doc.close()


def _install_tsv_cache() -> None:
    """Wrap the pipeline's tesseract call: cache its TSV by image hash (reruns take seconds)."""
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


def _effect_total(rows: list[dict]) -> dict:
    eff = {k: sum(p["effect"][k] for p in rows) for k in
           ("correct_words_before", "changed_words", "false_corrections", "correct_words_after")}
    eff["false_rate"] = eff["false_corrections"] / max(1, eff["correct_words_before"])
    return eff


SEEDS = Path("..") / "shared" / "seeds"


def _held_out_text(gt: str, seeds_dir: Path) -> str:
    """The seed texts inside the shipped LM that this ground truth was made from, to subtract while
    this file is scored: leave-one-out. "Made from" = holds HELD_OUT_BIGRAMS of the ground truth's
    syllable pairs (the source seed holds ≥ 0.92 of them, the other dispatches ≤ 0.60). Shared
    *syllables* are no test: every dispatch on the same topic holds 60–85 % of another's, and that
    criterion held out all seeds from every sample."""
    from congvan.pipeline.postcorrect import count_ngrams, seed_lm_text

    if not seeds_dir.exists():
        return ""
    mine = set(count_ngrams(gt)[1])
    out = []
    for f in sorted(seeds_dir.glob("*.txt")):
        text = seed_lm_text(f.read_text(encoding="utf-8"))
        if text is None:
            continue  # not in the LM (see build_postcorrect.py)
        theirs = set(count_ngrams(text)[1])
        if mine and len(mine & theirs) >= HELD_OUT_BIGRAMS * len(mine):
            out.append(text)
    return "\n".join(out)


def run_benchmark(samples_dir: Path, variants: list[str] | None = None, write: bool = True,
                  verbose: bool = True, results: Path | None = None, seeds_dir: Path = SEEDS,
                  only: list[str] | None = None) -> dict:
    """Score raw tesseract and the pipeline (before/after post-correction) on the samples.

    Post-correction runs leave-one-out: the LM minus the seed text the file was made from.
    `only`: file names (or parts of them, "004-harsh") to score, the rest of the variant skipped."""
    from congvan.config import Settings
    from congvan.pipeline import postcorrect as pc_mod
    from congvan.pipeline.acquire import acquire
    from congvan.pipeline.postcorrect import postcorrect

    _install_tsv_cache()
    # No page cache: ocr_image's reading arbitration uses the post-correction LM, and a page cached by
    # an ordinary run (full LM) would leak the held-out seed; tesseract itself is cached here (TSV).
    settings = Settings(ocr_cache="off")
    samples_dir = Path(samples_dir)
    files: dict = {}
    t_start = time.monotonic()
    for variant in variants or list(VARIANTS):
        paths = sorted({p for pat in VARIANTS[variant] for p in samples_dir.glob(pat)})
        for path in paths:
            if only and not any(o in path.name for o in only):
                continue
            gt_path = path.with_name(path.stem + ".gt.txt")
            if not gt_path.exists():
                continue
            gt_text = gt_path.read_text(encoding="utf-8")
            gt_pages = _split_pages(gt_text)
            held = _held_out_text(gt_text, Path(seeds_dir))
            pc_mod.hold_out(held)
            t0 = time.monotonic()
            try:
                doc = acquire(path, settings)
            finally:
                pc_mod.hold_out("")
            t_acq = time.monotonic() - t0
            if variant == "garbled":
                import pdfplumber

                with pdfplumber.open(path) as pdf:
                    raw_pages = [p.extract_text() or "" for p in pdf.pages]
            else:
                imgs = _render_pages(path, RAW_DPI)
                with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as ex:
                    raw_pages = list(ex.map(lambda im: raw_tesseract(im, settings.ocr_lang), imgs))
            pc_mod.hold_out(held)
            pages = []
            for i, page in enumerate(doc.pages):
                gt = gt_pages[i] if i < len(gt_pages) else ""
                raw = raw_pages[i] if i < len(raw_pages) else ""
                before = page.original if page.source == "ocr" else page.text
                pages.append({
                    "page": i + 1,
                    "gt_chars": len(normalise(gt)),
                    "source": page.source,
                    "raw": scores(gt, raw),
                    "raw_postcorrect": scores(gt, postcorrect(raw).text, like=raw),
                    "pipeline_uncorrected": scores(gt, before),
                    "pipeline": scores(gt, page.text, like=before),
                    "garbled_left": {"raw": garbled_left(raw), "pipeline": garbled_left(page.text)},
                    "effect": correction_effect(gt, before, page.text),
                })
            pc_mod.hold_out("")
            files[path.name] = {
                "variant": variant,
                "held_out_seed_chars": len(held),
                "pages": pages,
                "garbled_left": {k: sum(p["garbled_left"][k] for p in pages) for k in ("raw", "pipeline")},
                "seconds_acquire": round(t_acq, 2),
                "effect": _effect_total(pages),
                **{k: _summarise(pages, k) for k in COLUMNS},
            }
    by_variant: dict = {}
    for variant in variants or list(VARIANTS):
        rows = [p for f in files.values() if f["variant"] == variant for p in f["pages"]]
        if not rows:
            continue
        by_variant[variant] = {
            "files": sorted(n for n, f in files.items() if f["variant"] == variant),
            "pages": len(rows),
            "garbled_left": {k: sum(p["garbled_left"][k] for p in rows) for k in ("raw", "pipeline")},
            **{k: _summarise(rows, k) for k in COLUMNS},
            "effect": _effect_total(rows),
        }
    result = {
        "headline": "cer = order-robust CER (hypothesis lines placed where they align in the ground truth)",
        "raw": f"tesseract -l vie at defaults on {RAW_DPI} dpi renders (garbled: pdfplumber text layer)",
        "postcorrect_lm": "leave-one-out: each file is corrected with the shipped LM minus the seed text it was made from",
        "variants": by_variant,
        "files": files,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    if write:
        out = Path(results) if results else RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if verbose:
        print_table(result)
    return result


def print_table(result: dict) -> None:
    cols = COLUMNS
    short = {"raw": "raw tesseract", "raw_postcorrect": "raw + postcorrect",
             "pipeline_uncorrected": "pipeline, uncorrected", "pipeline": "pipeline (final)"}
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
    print("Broken-font debris left (° ¡ ¯ ¢ … inside words, <…= quotes):")
    for variant, v in result["variants"].items():
        g = v.get("garbled_left", {})
        print(f"  {variant:8s} raw {g.get('raw', 0)}  pipeline {g.get('pipeline', 0)}")


def main(argv: list[str] | None = None) -> None:
    """`python -m congvan.pipeline.bench_ocr [SAMPLES_DIR [VARIANT|FILE ...]] [--no-write]`: a word
    that names a variant (garbled, scan, harsh, image) selects it, any other one a file by name
    ("004-harsh"); --no-write leaves benchmarks/results/ocr.json alone (a partial run)."""
    args = sys.argv[1:] if argv is None else argv
    write = "--no-write" not in args
    args = [a for a in args if a != "--no-write"]
    picks = args[1:]
    variants = [a for a in picks if a in VARIANTS] or None
    only = [a for a in picks if a not in VARIANTS] or None
    if only and not variants:
        variants = [v for v in VARIANTS if any(o in p.name for o in only for pat in VARIANTS[v]
                                               for p in Path(args[0] if args else "samples").glob(pat))]
    run_benchmark(Path(args[0]) if args else Path("samples"), variants, write=write, only=only)


if __name__ == "__main__":
    main()
