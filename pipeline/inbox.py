"""The inbox as a queue of files: settle, claim, archive, quarantine, recover.

Plain functions over `Settings` (no orchestrator), so the Prefect flow, the
`--no-prefect` path and the tests share them. Invariants:

* nothing is ever deleted or overwritten: every move is "no clobber" and adds a
  ` (2)` suffix on collision;
* a claim is one atomic `rename`, so two runs (or threads) can never both take
  a file; the loser gets `None`;
* a file is in exactly one of inbox / processing / archive / quarantine, so a
  crash leaves it in `processing/`, from where `recover` retries it;
* file names are only ever passed to `os` calls, never to a shell.
"""
from __future__ import annotations

import errno
import fcntl
import fnmatch
import json
import os
import shutil
import time
import traceback
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from congvan import PIPELINE_VERSION
from congvan.config import Settings
from congvan.pipeline.errors import CongvanError

# Names that writers use while a file is still incomplete (browsers, rsync,
# Office lock files, editors): never claimed, whatever their age.
TEMP_PATTERNS = ("*.part", "*.tmp", "*.crdownload", "~$*", ".*", "*.partial", "*.swp", "*~")
SUPPORTED_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
NAME_MAX = 255  # bytes, ext4/xfs/btrfs
ID_SEP = "__"
# A file that was in processing/ when the pipeline died this many times is not
# retried again: it probably is what killed it (OOM, a native crash).
MAX_CRASH_RETRIES = 2


class IngestLocked(CongvanError):
    """Another ingestion run holds data/.ingest.lock."""

    stage = "lock"


# ---------------------------------------------------------------- names

def is_temporary(name: str) -> bool:
    """True for names that mean "still being written" or "not for us" (hidden files)."""
    return any(fnmatch.fnmatchcase(name, pat) for pat in TEMP_PATTERNS)


def is_supported(path: Path | str) -> bool:
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


def fit_name(name: str, reserve: int = 0, limit: int = NAME_MAX) -> str:
    """Shorten `name` so that it plus `reserve` bytes fits in a file name, keeping the extension.

    Cuts on a character boundary of the UTF-8 encoding (Vietnamese letters are
    2-3 bytes), so the result is still valid text.
    """
    budget = limit - reserve
    if len(name.encode("utf-8")) <= budget:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > 16 or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    room = budget - len(ext.encode("utf-8"))
    if room < 1:  # absurd extension: keep the head of the whole name
        stem, ext, room = name, "", budget
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
    return (cut or "file") + ext


def text_name(name: str) -> str:
    """`name` as valid Unicode text. Linux names are bytes: one that is not UTF-8 (a zip from
    an old Windows machine, TCVN3/CP1258 names) reaches Python with surrogate escapes, which
    neither UTF-8 files, JSON nor DuckDB accept. Undecodable bytes become U+FFFD."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", errors="replace")


def _safe_basename(name: str) -> str:
    """A plain file name: valid text, no directory part, not "." or "..", not empty."""
    base = text_name(name).replace("\x00", "").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        base = "file"
    return base


def _new_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def split_claimed(claimed: Path | str) -> tuple[str, str]:
    """`processing/<id>__<original name>` → (id, original name)."""
    name = Path(claimed).name
    ident, sep, original = name.partition(ID_SEP)
    if not sep:
        return "", name
    return ident, original


def original_name(claimed: Path | str) -> str:
    return split_claimed(claimed)[1]


# ---------------------------------------------------------------- moves

def _candidates(name: str) -> Iterator[str]:
    """`name`, then `stem (2).ext`, `stem (3).ext`, … each fitting NAME_MAX."""
    yield fit_name(name)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    for n in range(2, 100_000):
        tail = f" ({n}){ext}"
        yield fit_name(stem, reserve=len(tail.encode("utf-8"))) + tail
    raise FileExistsError(f"no free name for {name!r}")


def _move_noclobber(src: Path, dest_dir: Path, name: str) -> Path:
    """Move `src` into `dest_dir` as `name` (or a suffixed variant); never replaces a file.

    `os.link` + `unlink` is the atomic no-replace rename on one filesystem;
    across filesystems we copy to a hidden temp name, then link that in.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    for cand in _candidates(name):
        dest = dest_dir / cand
        try:
            os.link(src, dest, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return _move_across(src, dest_dir, cand)
            if exc.errno in (errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                # No hard link allowed here (fs.protected_hardlinks refuses files we cannot
                # read, some filesystems have none): check, then rename. The ingest lock
                # makes us the only mover, so the check cannot go stale in practice.
                return _rename_if_free(src, dest_dir, cand)
            raise
        os.unlink(src)
        return dest
    raise AssertionError("unreachable")


def _rename_if_free(src: Path, dest_dir: Path, name: str) -> Path:
    for cand in _candidates(name):
        dest = dest_dir / cand
        if os.path.lexists(dest):
            continue
        os.rename(src, dest)
        return dest
    raise AssertionError("unreachable")


def _move_across(src: Path, dest_dir: Path, name: str) -> Path:
    tmp = dest_dir / f".incoming-{uuid.uuid4().hex}"
    shutil.copy2(src, tmp)
    try:
        for cand in _candidates(name):
            dest = dest_dir / cand
            try:
                os.link(tmp, dest)
            except FileExistsError:
                continue
            except OSError:  # no hard links at all here: best effort check-then-rename
                if dest.exists():
                    continue
                os.rename(tmp, dest)
                os.unlink(src)
                return dest
            os.unlink(src)
            return dest
    finally:
        if tmp.exists():
            os.unlink(tmp)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the queue

def ready_files(settings: Settings, now: Optional[float] = None) -> list[Path]:
    """Files in the inbox (recursively) that nobody is writing any more, oldest first.

    "Settled" means the newer of mtime and ctime is at least `settle_seconds`
    old. ctime matters: `cp -p`/`rsync -t` restore an old mtime, but every
    write, rename or chmod bumps ctime, which no writer can set back. This is
    stateless (no JSON to get out of sync) and costs one stat per file.
    Temporary names, hidden files and folders, symlinks and specials are skipped.
    """
    now = time.time() if now is None else now
    inbox = Path(settings.inbox)
    if not inbox.is_dir():
        return []
    found: list[tuple[float, Path]] = []
    for root, dirs, files in os.walk(inbox):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if is_temporary(name):
                continue
            path = Path(root) / name
            try:
                st = path.lstat()
            except FileNotFoundError:  # taken meanwhile
                continue
            if not _is_regular(st.st_mode):
                continue
            changed = max(st.st_mtime, st.st_ctime)
            if now - changed >= settings.settle_seconds:
                found.append((changed, path))
    return [p for _, p in sorted(found, key=lambda t: (t[0], str(t[1])))]


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def claim(path: Path, settings: Settings) -> Optional[Path]:
    """Take `path` out of the inbox into `processing/<id>__<name>` with one atomic rename.

    Returns the claimed path, or None when the file is gone (another run or
    thread took it first). If processing/ is on another filesystem the claim is
    first an atomic rename to a hidden name inside the inbox, then a move.
    """
    path = Path(path)
    processing = Path(settings.processing)
    processing.mkdir(parents=True, exist_ok=True)
    ident = _new_id()
    name = fit_name(_safe_basename(path.name), reserve=len(ident) + ID_ROOM + len(ID_SEP))
    dest = processing / f"{ident}{ID_SEP}{name}"
    try:
        os.rename(path, dest)
        return dest
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    hidden = path.with_name(f".claim-{ident}")
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return None
    return _move_noclobber(hidden, processing, f"{ident}{ID_SEP}{name}")


def archive(claimed: Path, sha256: str, settings: Settings, when: Optional[datetime] = None,
            *, name: Optional[str] = None) -> Path:
    """Move a processed file to `archive/YYYY/MM/<original name>` (month of ingestion).

    `sha256` is not written anywhere (the store holds it); it is accepted so a
    caller cannot archive a file it has not fingerprinted. Never overwrites.
    `name`: the name as it came into the inbox; the processing/ name may have been
    shortened to make room for the claim id (a 255-byte name), the archive keeps it whole.
    """
    if not sha256:
        raise ValueError("archive needs the file's sha256")
    when = when or datetime.now(timezone.utc)
    return _move_noclobber(Path(claimed), archive_dir(settings, when), _final_name(claimed, name))


def _final_name(claimed: Path | str, name: Optional[str]) -> str:
    return _safe_basename(name) if name else original_name(claimed)


def archive_dir(settings: Settings, when: Optional[datetime] = None) -> Path:
    when = when or datetime.now(timezone.utc)
    return Path(settings.archive) / f"{when:%Y}" / f"{when:%m}"


def next_archive_path(claimed: Path, settings: Settings, when: Optional[datetime] = None,
                      *, name: Optional[str] = None) -> Path:
    """Where `archive` would put `claimed` now (first free name); stable while the caller holds the store lock."""
    d = archive_dir(settings, when)
    for cand in _candidates(_final_name(claimed, name)):
        if not (d / cand).exists():
            return d / cand
    raise AssertionError("unreachable")


def quarantine(
    claimed: Path,
    error: BaseException,
    stage: str,
    settings: Settings,
    *,
    original_path: Optional[str] = None,
    sha256: Optional[str] = None,
    message: Optional[str] = None,
) -> Path:
    """Move a failed file to `quarantine/<name>` and write `<name>.reason.json` beside it.

    The reason says, in words a clerk can act on, which stage failed and why,
    with the pipeline version so a later release can retry what it now handles.
    """
    qdir = Path(settings.quarantine)
    name = _final_name(claimed, Path(original_path).name if original_path else None)
    # Reserve room for ".reason.json" so the pair always fits NAME_MAX.
    dest = _move_noclobber(Path(claimed), qdir, fit_name(name, reserve=len(".reason.json")))
    reason = {
        "file": dest.name,
        "stage": getattr(error, "stage", None) or stage,
        "error": type(error).__name__,
        "message": message or _plain_message(error, Path(claimed), original_path),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pipeline_version": PIPELINE_VERSION,
        "original_path": original_path or str(claimed),
        "sha256": sha256,
    }
    if not isinstance(error, CongvanError):  # a bug, not a bad file: keep the trace for whoever fixes it
        reason["traceback"] = "".join(traceback.format_exception(error)).strip()[-4000:]
    reason_path = dest.with_name(dest.name + ".reason.json")
    tmp = reason_path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(reason, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, reason_path)  # dest name is fresh, so this replaces nothing of value
    except OSError:
        # No reason, no quarantine (disk full): put the file back where it was claimed, so the
        # caller's failure path hands it back for the next run instead of leaving it unexplained.
        if tmp.exists():
            os.unlink(tmp)
        os.rename(dest, claimed)
        raise
    return dest


def _plain_message(error: BaseException, claimed: Path, original_path: Optional[str]) -> str:
    """The error text, naming the file as the user knows it rather than its processing/ name."""
    text = str(error) or repr(error)
    name = Path(original_path).name if original_path else original_name(claimed)
    return text.replace(str(claimed), original_path or name).replace(claimed.name, name)


def release(claimed: Path, settings: Settings) -> Path:
    """Give a claimed file back to the inbox (a transient failure: retry next run)."""
    return _move_noclobber(Path(claimed), Path(settings.inbox), original_name(claimed))


class CrashedTooOften(CongvanError):
    """The pipeline died while processing this file more than MAX_CRASH_RETRIES times."""

    stage = "crash"


def recover(settings: Settings) -> list[Path]:
    """Files left in processing/ by a run that died: return them for retry in this run.

    Call only while holding the ingest lock (then nobody else is processing).
    A file whose processing had begun (`mark_started`) bumps a counter in the id
    (`…-ab12cd34.r1__name.pdf`); a file that already killed MAX_CRASH_RETRIES runs
    is quarantined instead of being allowed to kill every future run. Files the dead
    run had claimed but not begun are simply retried.
    """
    processing = Path(settings.processing)
    if not processing.is_dir():
        return []
    retry: list[Path] = []
    for path in sorted(processing.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        ident, name = split_claimed(path)
        if not ident:  # not ours (someone dropped a file here): claim it properly
            claimed = claim(path, settings)
            if claimed is not None:
                retry.append(claimed)
            continue
        base, tries, started = _parse_ident(ident)
        crashes = tries + started  # only a file that was being worked on counts against itself
        if crashes > MAX_CRASH_RETRIES:
            quarantine(path, CrashedTooOften(f"the pipeline stopped while processing this file {crashes} times"),
                       "crash", settings, original_path=str(Path(settings.inbox) / name))
            continue
        fresh = f"{base}.r{crashes}" if crashes else base
        bumped = path.with_name(f"{fresh}{ID_SEP}{name}")
        if bumped != path:
            try:
                os.rename(path, bumped)
            except FileNotFoundError:
                continue
        retry.append(bumped)
    return retry


STARTED = ".s"
# Room kept in a claimed name for the recovery counter and the started mark (".r9.s").
ID_ROOM = 8


def _parse_ident(ident: str) -> tuple[str, int, bool]:
    """`20240110T080000-ab12cd34.r1.s` → (base, crash count 1, started True)."""
    started = ident.endswith(STARTED)
    if started:
        ident = ident[: -len(STARTED)]
    base, _, count = ident.partition(".r")
    return base, int(count) if count.isdigit() else 0, started


def mark_started(claimed: Path) -> Path:
    """Rename a claimed file to say that work on it has begun (one atomic rename).

    A run killed with many files claimed leaves them all in processing/; only the
    ones it had begun may be what killed it, so only those count towards
    MAX_CRASH_RETRIES. Returns the new path (the same one for a non-claimed file).
    """
    claimed = Path(claimed)
    ident, name = split_claimed(claimed)
    if not ident or ident.endswith(STARTED):
        return claimed
    marked = claimed.with_name(f"{ident}{STARTED}{ID_SEP}{name}")
    os.rename(claimed, marked)
    return marked


# ---------------------------------------------------------------- the run lock

def lock_path(settings: Settings) -> Path:
    return Path(settings.db).parent / ".ingest.lock"


@contextmanager
def ingest_lock(settings: Settings, wait: float = 5.0) -> Iterator[Path]:
    """Hold `data/.ingest.lock` (flock) for one ingestion run.

    Overlapping runs (a slow scheduled run and the next tick, or a manual
    `congvan ingest`) would fight over the inbox and the single DuckDB writer.
    The kernel drops a flock when its holder dies, so a crash never leaves a
    stale lock. Waits up to `wait` seconds, then raises IngestLocked.
    """
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    raise IngestLocked(f"another ingestion run holds the lock {path}" + (f" (pid {holder})" if holder else ""))
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
