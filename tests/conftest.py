import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CONGVAN_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
REALWORLD = SHARED / "realworld"
SAMPLES = ROOT / "samples"


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside the checkout")
    return SEEDS


def seed_text(prefix: str) -> str:
    """The seed whose file name starts with `prefix` ("000"…"004")."""
    (path,) = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- test documents
# Shared by the fault suite, the serve test and anything else that needs a quick
# text-layer PDF: reportlab in tmp, no OCR.

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def make_pdf(path: Path, lines: list[str], pages: int = 1, rest: list[str] | None = None) -> Path:
    """A text-layer PDF of `pages` pages carrying `lines` (pages after the first carry `rest`
    when given); DejaVu Sans when present so Vietnamese letters are real glyphs."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if FONT.exists():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT)))
        font = "DejaVuSans"
    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(pages):
        c.setFont(font, 12)
        y = 800
        for line in (lines if page == 0 or rest is None else rest):
            c.drawString(60, y, line)
            y -= 18
        if pages > 1:
            c.drawString(60, 40, f"Trang {page + 1}/{pages}")
        c.showPage()
    c.save()
    return path


def dispatch(n: int, body: str = "Giao Sở Nội vụ chủ trì, phối hợp với các sở, ngành triển khai thực hiện.",
             day: int = 10) -> list[str]:
    """The lines of a short plan (kế hoạch) numbered `n`; `body` and `day` vary the bytes/date."""
    return [
        "ỦY BAN NHÂN DÂN            CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "TỈNH ĐIỆN BIÊN                 Độc lập - Tự do - Hạnh phúc",
        f"Số: {n}/KH-UBND            Điện Biên, ngày {day:02d} tháng 01 năm 2024",
        "KẾ HOẠCH",
        f"Công tác thi đua, khen thưởng năm 2024 (đợt {n})",
        body,
        "TM. ỦY BAN NHÂN DÂN",
        "CHỦ TỊCH",
        "Lê Thành Đô",
    ]


# ---------------------------------------------------------------- the "nothing lost" invariant

REASON_KEYS = ("stage", "error", "message", "time", "pipeline_version")
# (case, outcome, files in, files accounted for), filled by assert_nothing_lost(case=...)
FAULT_TABLE: list[tuple[str, str, int, int]] = []


def _sha(path: Path) -> str:
    from congvan.pipeline.acquire import sha256_file

    return sha256_file(path)


def data_settings(root: Path, **overrides):
    """Settings with every folder under `root/data`, as a fresh install lays them out; inbox created."""
    from congvan.config import Settings

    d = root / "data"
    s = Settings(db=d / "congvan.duckdb", inbox=d / "inbox", archive=d / "archive", quarantine=d / "quarantine",
                 processing=d / "processing", **overrides)
    s.inbox.mkdir(parents=True)
    return s


def drop(settings, name: str, data: bytes = b"%PDF-1.4 x") -> Path:
    """Put bytes into the inbox as a user (or scanner) would."""
    p = settings.inbox / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def files_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.exists() else []


def _files(root: Path) -> list[Path]:
    if not Path(root).exists():
        return []
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink())


def assert_nothing_lost(settings, inputs, *, pending: int = 0, case: str | None = None, outcome: str = "") -> dict:
    """The inbox's promise, checked on disk and in the database after a run.

    `inputs`: the files dropped, as (description, sha256) pairs or a {sha256: description}
    dict. Checks that
    * every input is in exactly one of archive/ or quarantine/ (or, for `pending` of them,
      still in the inbox: not settled yet, or handed back after a transient failure), and
      nothing else is there: as many files out as in, with the same bytes;
    * processing/ is empty (no run left anything half-done);
    * every quarantined file has `<name>.reason.json` with stage, error class, message,
      time and pipeline version, and every reason has its file;
    * every archived file has its record (documents.sha256) and a sighting row naming
      where it lives; every record and every sighting names a file that exists with those bytes.
    Returns the counts; with `case`, adds a row to the table printed at the end of the session.
    """
    import json
    from collections import Counter
    from datetime import datetime

    from congvan import PIPELINE_VERSION

    pairs = list(inputs.items()) if isinstance(inputs, dict) else list(inputs)
    if isinstance(inputs, dict):
        pairs = [(what, sha) for sha, what in pairs]
    want = Counter(sha for _, sha in pairs)
    what_of = {sha: what for what, sha in pairs}

    archived = _files(settings.archive)
    quarantine_all = _files(settings.quarantine)
    reasons = [p for p in quarantine_all if p.name.endswith(".reason.json")]
    quarantined = [p for p in quarantine_all if not p.name.endswith(".reason.json")]
    waiting = [p for p in _files(settings.inbox)]
    processing = _files(settings.processing)
    assert not processing, f"left in processing/: {[p.name for p in processing]}"

    def readable_sha(p: Path) -> str:
        mode = p.stat().st_mode
        if not mode & 0o444:  # an unreadable input is quarantined as it came; look at it as root would
            p.chmod(0o644)
        return _sha(p)

    found = Counter(readable_sha(p) for p in archived + quarantined + waiting)
    missing = want - found
    assert not missing, "lost: " + ", ".join(f"{what_of[s]} ×{n}" for s, n in missing.items())
    extra = found - want
    assert not extra, f"files that were not inputs (copies left behind?): {dict(extra)}"
    assert len(waiting) == pending, f"expected {pending} file(s) still in the inbox, found {[p.name for p in waiting]}"

    for p in quarantined:
        r = p.with_name(p.name + ".reason.json")
        assert r.exists(), f"quarantined {p.name} has no reason beside it"
        reason = json.loads(r.read_text(encoding="utf-8"))
        for key in REASON_KEYS:
            assert reason.get(key), f"{r.name} has no {key}"
        assert reason["pipeline_version"] == PIPELINE_VERSION
        datetime.fromisoformat(reason["time"])
    for r in reasons:
        assert r.with_name(r.name[: -len(".reason.json")]).exists(), f"{r.name} has no file"

    db = Path(settings.db)
    if archived or db.exists():
        from congvan.pipeline.store import Store

        with Store(db, read_only=True, wait_seconds=30) as st:
            for p in archived:
                sha = _sha(p)
                assert st.has_sha256(sha), f"archived {p.name} has no record"
                _, rows = st.query("SELECT count(*) FROM files WHERE sha256 = ? AND path = ?", [sha, str(p)])
                assert rows[0][0] >= 1, f"the database does not know that {p.name} lives at {p}"
            _, docs = st.query("SELECT sha256, path FROM documents")
            _, seen = st.query("SELECT sha256, path FROM files")
        for sha, path in docs + seen:
            assert path and Path(path).is_file(), f"a record points at {path}, which does not exist"
            assert _sha(Path(path)) == sha, f"{path} does not hold the bytes its record names"
    counts = {"in": len(pairs), "archived": len(archived), "quarantined": len(quarantined), "inbox": len(waiting)}
    counts["accounted"] = sum(min(found[s], n) for s, n in want.items())
    if case:
        FAULT_TABLE.append((case, outcome, counts["in"], counts["accounted"]))
    return counts


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the fault table (case, outcome, files in, files accounted for) when faults ran."""
    if not FAULT_TABLE:
        return
    tr = terminalreporter
    tr.section("fault injection: nothing lost")
    width = max(len(c) for c, *_ in FAULT_TABLE)
    tr.write_line(f"{'case':<{width}}  {'in':>3}  {'accounted':>9}  outcome")
    for case, outcome, n_in, n_ok in FAULT_TABLE:
        tr.write_line(f"{case:<{width}}  {n_in:>3}  {n_ok:>9}  {outcome}")
