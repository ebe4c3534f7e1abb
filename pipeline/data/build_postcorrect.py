"""Build `postcorrect_lm.tsv`, the syllable unigram/bigram model used by `pipeline/postcorrect.py`.

Sources:
- the seed dispatches in `shared/seeds/` that read as clean Vietnamese (validity ≥ SEED_MIN_VALIDITY:
  001, 002, 003, and 000 after `repair.repair_text` fixes its broken font; 004 is an OCR reading,
  which would teach the model its own errors). These are also the texts the samples are made from, so the benchmark
  (`pipeline/bench_ocr.py`) scores each sample leave-one-out: `postcorrect.hold_out(seed text)`
  subtracts that seed's counts, and the model never sees the page it corrects;
- the text layers of the five born-digital public administrative PDFs in `shared/realworld/`
  (cv_bnv_huong_dan, bao_cao_snv, cong_dien_moi_hop, quyet_dinh_ubnd, to_trinh_snv), read with
  pdfplumber: syllable and adjacent-syllable counts of real dispatch prose;
- province names, signers' titles and issuing bodies from `extractors/data/` (project tables);
- the word lists shipped inside installed packages: underthesea `corpus/data/Viet74K.txt`
  (Apache-2.0) and pyvi `models/words.txt` (MIT): every two-syllable dictionary word contributes
  its syllable pair ("phong trào", "thi đua"), and every syllable counts as known.

Output, one row per entry, lower case NFC, only well-formed syllables (quality.is_syllable):
    U <TAB> syllable <TAB> corpus count <TAB> number of dictionary words containing it
    B <TAB> syllable syllable <TAB> corpus count <TAB> 1 if a dictionary word holds the pair else 0
Run: `.venv/bin/python pipeline/data/build_postcorrect.py [REALWORLD_DIR [SEEDS_DIR]]` (deterministic output).
"""
from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from congvan.pipeline.quality import is_syllable

HERE = Path(__file__).resolve().parent
REALWORLD = ["cv_bnv_huong_dan", "bao_cao_snv", "cong_dien_moi_hop", "quyet_dinh_ubnd", "to_trinh_snv"]
TOKEN = re.compile(r"[^\W\d_]+|\d+")
PHRASE_WEIGHT = 3
NUM = "<num>"  # any number: "năm <num>", "ngày <num>" are strong context for the word before


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def corpus_text(realworld_dir: Path) -> str:
    import pdfplumber

    parts = []
    for name in REALWORLD:
        with pdfplumber.open(realworld_dir / f"{name}.pdf") as pdf:
            parts.extend(p.extract_text() or "" for p in pdf.pages)
    return nfc("\n".join(parts))


def project_phrases() -> str:
    """Province names (also as "tỉnh X"), signers' titles and issuing bodies from the extractors'
    tables: proper names a general dictionary lacks, repeated PHRASE_WEIGHT times."""
    data = HERE.parents[1] / "extractors" / "data"
    lines = []
    for name, col in (("provinces.txt", 0), ("titles.tsv", 1), ("bodies.tsv", 1)):
        f = data / name
        if not f.exists():
            continue
        for row in f.read_text(encoding="utf-8").splitlines():
            if not row.strip() or row.startswith("#"):
                continue
            cells = row.split("\t")
            phrase = cells[col] if len(cells) > col else cells[0]
            lines.append(phrase)
            if name == "provinces.txt":
                lines.append("tỉnh " + phrase)
    return nfc("\n".join(lines * PHRASE_WEIGHT))


def dictionary_words() -> list[str]:
    """Entries of the word lists bundled with underthesea and pyvi, when installed."""
    import importlib.util

    words: list[str] = []
    for pkg, rel in (("underthesea", "corpus/data/Viet74K.txt"), ("pyvi", "models/words.txt")):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            print(f"warning: {pkg} not installed; its word list is skipped", file=sys.stderr)
            continue
        f = Path(list(spec.submodule_search_locations)[0]) / rel
        if f.exists():
            words.extend(nfc(w.strip()) for w in f.read_text(encoding="utf-8").splitlines() if w.strip())
    return words


def seed_texts(seeds_dir: Path) -> list[str]:
    """Seed dispatches that read as clean Vietnamese, broken-font ones repaired (see the module
    docstring and `postcorrect.seed_lm_text`)."""
    from congvan.pipeline.postcorrect import seed_lm_text

    out = []
    for f in sorted(seeds_dir.glob("*.txt")):
        text = seed_lm_text(f.read_text(encoding="utf-8"))
        if text is not None:
            out.append(text)
    return out


def build(realworld_dir: Path, seeds_dir: Path | None = None) -> list[str]:
    from congvan.pipeline.postcorrect import count_ngrams

    seeds = seed_texts(seeds_dir) if seeds_dir and seeds_dir.exists() else []
    # Counted separately and added: a seed's counts are then exactly what `hold_out` subtracts.
    uni, bi = count_ngrams(corpus_text(realworld_dir) + "\n" + project_phrases())
    for text in seeds:
        u, b = count_ngrams(text)
        uni.update(u)
        bi.update(b)
    dict_uni: Counter = Counter()
    dict_bi: set = set()
    for w in dictionary_words():
        sy = w.lower().split()
        if not sy or not all(is_syllable(s) for s in sy):
            continue
        for s in set(sy):
            dict_uni[s] += 1
        if len(sy) == 2:  # compounds; pairs cut out of longer idioms ("của đáng tội") mislead
            dict_bi.add((sy[0], sy[1]))
    rows = []
    for s in sorted(set(uni) | set(dict_uni)):
        rows.append(f"U\t{s}\t{uni[s]}\t{dict_uni[s]}")
    for a, b in sorted(set(bi) | dict_bi):
        rows.append(f"B\t{a} {b}\t{bi[(a, b)]}\t{int((a, b) in dict_bi)}")
    return rows


def main() -> None:
    realworld = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "realworld"
    seeds = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[2] / "shared" / "seeds"
    rows = build(realworld, seeds)
    out = HERE / "postcorrect_lm.tsv"
    header = ("# Syllable LM for OCR post-correction, built by build_postcorrect.py (see its docstring).\n"
              "# U<TAB>syllable<TAB>corpus count<TAB>dictionary words | B<TAB>pair<TAB>corpus count<TAB>in dictionary\n")
    out.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(rows)} rows, {out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
