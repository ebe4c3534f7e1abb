"""OCR/repair benchmark against `samples/*.gt.txt`: raw tesseract (or raw text layer) vs our pipeline.

CER/WER are order-sensitive, so a two-column header read line by line (as pdfplumber also does)
costs points against column-ordered ground truth; `bag_cer` compares sorted words and isolates
recognition quality from reading order. Run: `python -m congvan.pipeline.bench_ocr samples/`.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from rapidfuzz.distance import Levenshtein

VARIANTS = {"garbled": "*-garbled.pdf", "scan": "*-scan.pdf", "harsh": "*-harsh.pdf", "image": "*-scan-p*.png"}


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def cer(ref: str, hyp: str) -> float:
    ref, hyp = _norm(ref), _norm(hyp)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def wer(ref: str, hyp: str) -> float:
    r, h = _norm(ref).split(), _norm(hyp).split()
    return Levenshtein.distance(r, h) / max(1, len(r))


def bag_cer(ref: str, hyp: str) -> float:
    """CER over sorted words: reading order ignored."""
    return cer(" ".join(sorted(ref.split())), " ".join(sorted(hyp.split())))


def _raw_tesseract(path: Path, dpi: int, lang: str) -> str:
    """Baseline: tesseract's defaults (psm 3, luminance grey, no preprocessing, no correction)."""
    import pypdfium2 as pdfium
    import pytesseract
    from PIL import Image

    if path.suffix.lower() == ".pdf":
        doc = pdfium.PdfDocument(str(path))
        imgs = [doc[i].render(scale=dpi / 72).to_pil() for i in range(len(doc))]
    else:
        imgs = [Image.open(path)]
    return "\n\n".join(pytesseract.image_to_string(im.convert("L"), lang=lang) for im in imgs)


def _raw_layer(path: Path) -> str:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n\n".join(p.extract_text() or "" for p in pdf.pages)


def _scores(gt: str, hyp: str) -> dict:
    return {"cer": cer(gt, hyp), "wer": wer(gt, hyp), "bag_cer": bag_cer(gt, hyp)}


def run_benchmark(samples_dir: Path, variants: list[str] | None = None, settings=None) -> dict:
    """{variant: {file: {"raw": scores, "ocr_only": scores, "pipeline": scores, "seconds_per_page": s}}} and a table."""
    from congvan.config import Settings
    from congvan.pipeline.acquire import acquire

    settings = settings or Settings()
    samples_dir = Path(samples_dir)
    results: dict = {}
    for variant in variants or list(VARIANTS):
        for path in sorted(samples_dir.glob(VARIANTS[variant])):
            gt_path = path.with_name(path.stem + ".gt.txt")
            if not gt_path.exists():
                continue
            gt = gt_path.read_text(encoding="utf-8").replace("\f", "\n")
            t0 = time.monotonic()
            doc = acquire(path, settings)
            secs = (time.monotonic() - t0) / max(1, len(doc.pages))
            row = {"pages": len(doc.pages), "seconds_per_page": round(secs, 2),
                   "sources": sorted({p.source for p in doc.pages}), "pipeline": _scores(gt, doc.text)}
            if variant == "garbled":
                row["raw"] = _scores(gt, _raw_layer(path))
            else:
                row["raw"] = _scores(gt, _raw_tesseract(path, settings.ocr_dpi, settings.ocr_lang))
                before = "\n\n".join(p.original or p.text for p in doc.pages)
                row["ocr_only"] = _scores(gt, before)  # our OCR before post-correction
            results.setdefault(variant, {})[path.name] = row
    _print_table(results)
    return results


def _print_table(results: dict) -> None:
    head = f"{'variant':8s} {'file':20s} {'pages':>5s} {'s/page':>6s} | {'raw CER':>7s} {'WER':>6s} {'bag':>6s} | " \
           f"{'ocr CER':>7s} {'bag':>6s} | {'final CER':>9s} {'WER':>6s} {'bag':>6s}"
    print(head)
    print("-" * len(head))
    for variant, files in results.items():
        for name, r in files.items():
            o = r.get("ocr_only")
            ocr_cols = f"{o['cer']:7.3f} {o['bag_cer']:6.3f}" if o else f"{'-':>7s} {'-':>6s}"
            print(f"{variant:8s} {name:20s} {r['pages']:5d} {r['seconds_per_page']:6.1f} | "
                  f"{r['raw']['cer']:7.3f} {r['raw']['wer']:6.3f} {r['raw']['bag_cer']:6.3f} | {ocr_cols} | "
                  f"{r['pipeline']['cer']:9.3f} {r['pipeline']['wer']:6.3f} {r['pipeline']['bag_cer']:6.3f}")
        rows = list(files.values())
        if rows:
            mean = lambda k, s: sum(r[k][s] for r in rows) / len(rows)  # noqa: E731
            print(f"{variant:8s} {'MEAN':20s} {'':5s} {'':6s} | {mean('raw', 'cer'):7.3f} {mean('raw', 'wer'):6.3f} "
                  f"{mean('raw', 'bag_cer'):6.3f} | {'':7s} {'':6s} | {mean('pipeline', 'cer'):9.3f} "
                  f"{mean('pipeline', 'wer'):6.3f} {mean('pipeline', 'bag_cer'):6.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    run_benchmark(Path(args[0] if args else "samples"), args[1:] or None)
