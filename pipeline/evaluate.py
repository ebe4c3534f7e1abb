"""Score extraction against gold records: precision, recall and F1 per field and per variant.

Pairs: `gold/<seed>.json` ↔ every `samples/<seed>-<variant>….{pdf,png,tif,tiff,jpg,jpeg}` (a PDF's
variant is the word after the seed: text, garbled, scan, harsh; images are variant "image"), and
`gold/realworld/<stem>.json` ↔ `<realworld_dir>/<stem>.pdf` (variant "realworld").
`extract(path) -> Record` is any plain function, so tests score small texts without PDFs.

Rules (kept here so the numbers mean one thing):
- A gold JSON has the Record's field names; a field *missing* from it is not annotated and not
  scored; a field present as null means "unknown" and any prediction for it is a false positive.
- Scalars (number, symbol, doc_type, issuer.*, place, issued_date, subject, signer.*, urgency,
  secrecy): a non-null prediction counts toward precision, a non-null gold toward recall; a wrong
  value is both a false positive and a false negative. Values match after NFC, whitespace folding
  and case folding; free-text fields (subject, issuer name/parent, signer name/on_behalf_of) also
  match at rapidfuzz ratio ≥ 90 so a dropped comma or an OCR'd diacritic is not a miss.
- Lists are sets matched one-to-one: recipients and distribution by normalised string (ratio ≥ 90),
  references by `key`, movements by `canonical`, tasks by assignee (ratio ≥ 90) and separately by
  (assignee, deadline) as "tasks+deadline".
- A file that fails to extract scores as an empty record (its gold values become misses) and is
  listed under errors.
- Macro average: the mean F1 over the fields that have any gold or prediction in that variant.
- A sample file that holds only part of its document (its ground-truth text `<stem>.gt.txt` is
  shorter than 90 % of the longest `.gt.txt` among its seed's samples: `002-scan-p1.png` is page 1
  of four) is scored only on the gold values that file holds: list items whose text (references:
  `raw`, movements: `name`, tasks: the first 40 characters of `text`) occurs in that ground truth,
  and the signer fields only when the signer's name does. Nothing an extractor could not have seen
  counts as a miss; what was set aside is listed under the document (`DocResult.unscored`).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from rapidfuzz import fuzz

SCALARS = (
    "number", "symbol", "doc_type", "issuer.name", "issuer.level", "issuer.locality", "issuer.parent",
    "place", "issued_date", "subject", "signer.name", "signer.title", "signer.authority",
    "signer.on_behalf_of", "urgency", "secrecy",
)
FUZZY_SCALARS = {"subject", "issuer.name", "issuer.parent", "signer.name", "signer.on_behalf_of"}
LISTS = ("recipients", "distribution", "references", "movements", "tasks", "tasks+deadline")
FIELDS = SCALARS + LISTS
FUZZY = 90
IMAGE_EXT = {".png", ".tif", ".tiff", ".jpg", ".jpeg"}
SAMPLE_EXT = IMAGE_EXT | {".pdf"}


def norm(v: Any) -> Optional[str]:
    """NFC, single spaces, case-folded; None and "" are both unknown."""
    if v is None:
        return None
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(v))).strip().casefold()
    return s or None


def same(a: Optional[str], b: Optional[str], fuzzy: bool) -> bool:
    if a is None or b is None:
        return False
    return a == b or (fuzzy and fuzz.ratio(a, b) >= FUZZY)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "Counts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def support(self) -> int:
        return self.tp + self.fp + self.fn

    @property
    def precision(self) -> Optional[float]:
        d = self.tp + self.fp
        return self.tp / d if d else None

    @property
    def recall(self) -> Optional[float]:
        d = self.tp + self.fn
        return self.tp / d if d else None

    @property
    def f1(self) -> Optional[float]:
        if not self.support:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


@dataclass
class DocResult:
    path: str
    variant: str
    gold: str
    counts: dict[str, Counts] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)  # "field: predicted ≠ gold"
    error: Optional[str] = None
    unscored: list[str] = field(default_factory=list)  # gold values not on a partial file's pages


@dataclass
class Report:
    docs: list[DocResult] = field(default_factory=list)

    @property
    def variants(self) -> list[str]:
        order = ["text", "garbled", "scan", "harsh", "image", "realworld"]
        seen = {d.variant for d in self.docs}
        return [v for v in order if v in seen] + sorted(seen - set(order))

    def counts(self, field_name: str, variant: Optional[str] = None) -> Counts:
        c = Counts()
        for d in self.docs:
            if (variant is None or d.variant == variant) and field_name in d.counts:
                c.add(d.counts[field_name])
        return c

    def macro_f1(self, variant: Optional[str] = None) -> Optional[float]:
        f1s = [c.f1 for c in (self.counts(f, variant) for f in FIELDS) if c.f1 is not None]
        return sum(f1s) / len(f1s) if f1s else None

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(d.path, d.error) for d in self.docs if d.error]

    def to_dict(self) -> dict:
        def row(c: Counts) -> dict:
            return {"tp": c.tp, "fp": c.fp, "fn": c.fn, "precision": c.precision, "recall": c.recall, "f1": c.f1}
        return {
            "fields": {f: {"all": row(self.counts(f)), **{v: row(self.counts(f, v)) for v in self.variants}}
                       for f in FIELDS},
            "macro_f1": {"all": self.macro_f1(), **{v: self.macro_f1(v) for v in self.variants}},
            "documents": [{"path": d.path, "variant": d.variant, "gold": d.gold, "misses": d.misses,
                           "error": d.error, "unscored": d.unscored} for d in self.docs],
        }


# ---------------------------------------------------------------- scoring one record

def _get(obj: Any, path: str) -> tuple[bool, Any]:
    """(present, value) for "issuer.name" in a dict (gold) or a model dump (prediction)."""
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def score_scalar(pred: Any, gold: Any, fuzzy: bool) -> Counts:
    p, g = norm(pred), norm(gold)
    c = Counts()
    if p is not None and g is not None and same(p, g, fuzzy):
        c.tp = 1
    else:
        c.fp = int(p is not None)
        c.fn = int(g is not None)
    return c


def match_sets(pred: Iterable[Any], gold: Iterable[Any], eq: Callable[[Any, Any], bool]) -> Counts:
    """One-to-one greedy matching (exact pairs first, then fuzzy)."""
    return match_sets_detail(pred, gold, eq)[0]


def match_sets_detail(pred: Iterable[Any], gold: Iterable[Any],
                      eq: Callable[[Any, Any], bool]) -> tuple[Counts, list, list]:
    """`match_sets` with what stayed unmatched: (counts, predicted-only items, gold-only items)."""
    P = list(dict.fromkeys(x for x in pred if x is not None))
    G = list(dict.fromkeys(x for x in gold if x is not None))
    used: set[int] = set()
    tp = 0
    for exact_pass in (True, False):
        for p in list(P):
            for j, g in enumerate(G):
                if j in used:
                    continue
                if (p == g) if exact_pass else eq(p, g):
                    used.add(j)
                    P.remove(p)
                    tp += 1
                    break
    return Counts(tp=tp, fp=len(P), fn=len(G) - len(used)), P, [g for j, g in enumerate(G) if j not in used]


def _list_keys(name: str, items: list) -> list:
    items = [i if isinstance(i, dict) else ({"value": i} if not hasattr(i, "model_dump") else i.model_dump())
             for i in (items or [])]
    if name in ("recipients", "distribution"):
        return [norm(i.get("value")) for i in items]
    if name == "references":
        return [norm(i.get("key")) for i in items]
    if name == "movements":
        return [norm(i.get("canonical")) for i in items]
    if name == "tasks":
        return [norm(i.get("assignee")) for i in items]
    if name == "tasks+deadline":
        return [(norm(i.get("assignee")), norm(i.get("deadline"))) for i in items]
    raise KeyError(name)


def _list_eq(name: str) -> Callable[[Any, Any], bool]:
    if name in ("recipients", "distribution", "tasks"):
        return lambda a, b: same(a, b, True)
    if name == "tasks+deadline":
        return lambda a, b: same(a[0], b[0], True) and a[1] == b[1]
    return lambda a, b: a == b


def score_record(pred: dict, gold: dict) -> tuple[dict[str, Counts], list[str]]:
    """Per-field counts for one prediction (a Record dump) against one gold dict."""
    counts, misses = {}, []
    for f in SCALARS:
        present, g = _get(gold, f)
        if not present:
            continue
        _, p = _get(pred, f)
        c = score_scalar(p, g, f in FUZZY_SCALARS)
        counts[f] = c
        if c.fp or c.fn:
            misses.append(f"{f}: {p!r} ≠ {g!r}")
    for f in LISTS:
        src = "tasks" if f == "tasks+deadline" else f
        if src not in gold:
            continue
        c, extra, missing = match_sets_detail(_list_keys(f, pred.get(src) or []), _list_keys(f, gold.get(src) or []),
                                              _list_eq(f))
        counts[f] = c
        if c.fp or c.fn:
            # the unmatched items themselves (normalised), so a miss can be read without re-running
            misses.append(f"{f}: tp={c.tp} fp={c.fp} fn={c.fn}; extra {extra!r}; missing {missing!r}")
    return counts, misses


# ---------------------------------------------------------------- partial files

PARTIAL = 0.9
_EVIDENCE = {"distribution": lambda i: i, "recipients": lambda i: i, "references": lambda i: i.get("raw"),
             "movements": lambda i: i.get("name"), "tasks": lambda i: (i.get("text") or "")[:40]}


def _squash(s: Any) -> str:
    """Letters and digits only, case- and diacritics-folded: a value's evidence in a ground-truth text."""
    s = unicodedata.normalize("NFD", str(s or "").casefold().replace("đ", "d"))
    return "".join(c for c in s if c.isalnum() and unicodedata.category(c) != "Mn")


def held_text(path: Path, seed: str) -> Optional[str]:
    """The ground-truth text of `path` when the file holds only part of its document, else None."""
    gt = path.with_name(path.stem + ".gt.txt")
    if not gt.exists():
        return None
    sizes = [len(p.read_text(encoding="utf-8")) for p in path.parent.glob(f"{seed}-*.gt.txt")]
    own = gt.read_text(encoding="utf-8")
    return own if sizes and len(own) < PARTIAL * max(sizes) else None


def scope_gold(gold: dict, held: str) -> tuple[dict, list[str]]:
    """(gold without the values `held` does not contain, what was set aside) — see the module rules."""
    text = _squash(held)
    out, dropped = dict(gold), []
    signer = gold.get("signer")
    if isinstance(signer, dict) and signer.get("name") and _squash(signer["name"]) not in text:
        out.pop("signer")
        dropped.append("signer.*")
    for name, evidence in _EVIDENCE.items():
        items = gold.get(name)
        if not items:
            continue
        keep = [i for i in items if (ev := _squash(evidence(i))) and ev in text]
        if len(keep) < len(items):
            out[name] = keep
            dropped.append(f"{name}: {len(items) - len(keep)} of {len(items)}")
    return out, dropped


# ---------------------------------------------------------------- pairing files with gold

def _variant(path: Path, seed: str) -> str:
    if path.suffix.lower() in IMAGE_EXT:
        return "image"
    rest = path.stem[len(seed):].lstrip("-_")
    return rest.split("-")[0] or "text"


def pairs(gold_dir: Path, samples_dir: Path, realworld_dir: Optional[Path]) -> list[tuple[Path, str, Path]]:
    """(sample file, variant, gold file) for every sample that has gold."""
    out = []
    for g in sorted(Path(gold_dir).glob("*.json")):
        seed = g.stem
        for f in sorted(Path(samples_dir).glob(f"{seed}-*")):
            if f.suffix.lower() in SAMPLE_EXT:
                out.append((f, _variant(f, seed), g))
    rw_gold = Path(gold_dir) / "realworld"
    if realworld_dir is not None and rw_gold.is_dir():
        for g in sorted(rw_gold.glob("*.json")):
            f = Path(realworld_dir) / f"{g.stem}.pdf"
            if f.exists():
                out.append((f, "realworld", g))
    return out


def _dump(record: Any) -> dict:
    if record is None:
        return {}
    if hasattr(record, "model_dump"):
        return record.model_dump()
    return dict(record)


def evaluate(gold_dir: Path, samples_dir: Path, realworld_dir: Optional[Path],
             extract: Callable[[Path], Any], workers: int = 1) -> Report:
    """Score every sample against its gold; `workers` files are extracted at once (the report's
    order stays the pairs' order)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = list(pairs(Path(gold_dir), Path(samples_dir), realworld_dir))

    def predict(path: Path) -> tuple[dict, Optional[str]]:
        try:
            return _dump(extract(path)), None
        except Exception as exc:  # one bad file must not hide the others' scores
            return {}, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as ex:
        predictions = list(ex.map(predict, [path for path, _, _ in jobs]))
    report = Report()
    for (path, variant, gold_path), (pred, error) in zip(jobs, predictions):
        gold = json.loads(gold_path.read_text(encoding="utf-8"))
        doc = DocResult(str(path), variant, str(gold_path))
        held = held_text(path, gold_path.stem) if variant != "realworld" else None
        if held is not None:
            gold, doc.unscored = scope_gold(gold, held)
        if error:
            doc.error = error
        doc.counts, doc.misses = score_record(pred, gold)
        report.docs.append(doc)
    return report


# ---------------------------------------------------------------- output

def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.0f}"


def format_report(report: Report, details: Optional[bool] = None) -> str:
    """A plain-text table (via Rich): F1 per field and variant, then overall P/R/F1 and support.
    `details` adds every document's misses (scalars: predicted ≠ gold; lists: the unmatched items);
    by default it follows the environment variable CONGVAN_EVAL_DETAILS (1/true/yes)."""
    import os

    from rich.console import Console
    from rich.table import Table

    if details is None:
        details = os.environ.get("CONGVAN_EVAL_DETAILS", "").strip().lower() in ("1", "true", "yes")

    variants = report.variants
    t = Table(title=f"Extraction vs gold — {len(report.docs)} files (F1 %, P/R/F1 overall)")
    t.add_column("field")
    for v in variants:
        t.add_column(v, justify="right")
    for col in ("P", "R", "F1", "n"):
        t.add_column(col, justify="right")
    for f in FIELDS:
        allc = report.counts(f)
        if not allc.support:
            continue
        t.add_row(f, *[_pct(report.counts(f, v).f1) for v in variants],
                  _pct(allc.precision), _pct(allc.recall), _pct(allc.f1), str(allc.tp + allc.fn))
    t.add_row("macro F1", *[_pct(report.macro_f1(v)) for v in variants], "", "", _pct(report.macro_f1()), "",
              style="bold")
    # the same figures split into precision / recall / F1 for every variant
    t2 = Table(title="Per variant: P / R / F1 % (n = gold items)")
    t2.add_column("field")
    for v in variants:
        t2.add_column(v, justify="right")
    for f in FIELDS:
        if not report.counts(f).support:
            continue
        cells = []
        for v in variants:
            c = report.counts(f, v)
            cells.append("—" if not c.support else
                         f"{_pct(c.precision)}/{_pct(c.recall)}/{_pct(c.f1)} n={c.tp + c.fn}")
        t2.add_row(f, *cells)
    t2.add_row("macro F1", *[_pct(report.macro_f1(v)) for v in variants], style="bold")
    console = Console(width=200, force_terminal=False, color_system=None)
    with console.capture() as cap:
        console.print(t)
        console.print(t2)
        for path, err in report.errors:
            console.print(f"error: {path}: {err}", markup=False)
        for d in report.docs:
            if d.unscored:
                console.print(f"partial file {Path(d.path).name}: not scored (not on its pages): "
                              + "; ".join(d.unscored), markup=False)
        if details:
            for d in report.docs:
                for m in d.misses:
                    console.print(f"{Path(d.path).name} [{d.variant}] {m}", markup=False)
    return cap.get()
