"""Staged records: many extracting workers, one DuckDB writer.

DuckDB lets one process open a database file for writing and then nobody else
may open it at all, so workers on other processes or machines never touch it.
A worker claims inbox files (the same atomic rename as `congvan ingest`), runs
the very same per-file code (`flows.ingest.process_file`) with a `StagingStore`
in place of the database, and so quarantines bad files and archives good ones
itself; the record goes to a staged file instead of DuckDB. One loader (holding
the ingest lock, like any writer) then saves the staged records through
`Store.save` and moves each staged file to loaded/ only after its commit.

Layout, beside the database unless CONGVAN_STAGING says otherwise (all of it,
with the inbox, archive and quarantine, on a filesystem the workers share):

    staging/<claim id>.jsonl          published: ready for the loader (one JSON line)
    staging/pending/<run>/…           written by save(), published once the file is archived
    staging/loaded/                   committed to DuckDB (kept: the audit trail)
    staging/rejected/                 refused by the store, with <name>.reason.json
    staging/known/<ab>/<sha256>       bytes the database holds: workers do not OCR them again
    processing/runs/<run>/            claims of one worker run, with .owner.json (host, pid, run)

Crash rules: every step is a rename or a replace of a complete file, so a
crash leaves a state the next run finishes. A published entry whose load was
interrupted is loaded again and recognised by (sha256, path) in `files`; a
pending entry of a dead run is published by whoever adopts the run; a claimed
file of a dead run with nothing staged is retried (counted in its name, like
`inbox.recover`) and quarantined after MAX_CRASH_RETRIES.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from congvan import PIPELINE_VERSION
from congvan.config import Settings
from congvan.pipeline import inbox
from congvan.pipeline.acquire import sha256_file
from congvan.pipeline.errors import CongvanError, DatabaseBusy
from congvan.schemas.record import Record

log = logging.getLogger("congvan.staging")

SUFFIX = ".jsonl"
ENTRY_VERSION = 1
OWNER = ".owner.json"
ADOPTED = ".adopted-"


class StoreRefused(CongvanError):
    """The database refused a staged record (the file is moved from archive to quarantine)."""

    stage = "store"


# ---------------------------------------------------------------- places

def staging_root(settings: Settings) -> Path:
    """CONGVAN_STAGING, else `staging/` beside the database."""
    env = os.environ.get("CONGVAN_STAGING")
    return Path(env) if env else Path(settings.db).parent / "staging"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def pending(self) -> Path:
        return self.root / "pending"

    @property
    def loaded(self) -> Path:
        return self.root / "loaded"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def known(self) -> Path:
        return self.root / "known"

    def known_marker(self, sha256: str) -> Path:
        sha = sha256.lower()
        return self.known / sha[:2] / sha

    def published(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_file() and p.name.endswith(SUFFIX)
                      and not p.name.startswith("."))


def runs_dir(settings: Settings) -> Path:
    """Worker runs claim into processing/runs/<run>/: `inbox.recover` (which only looks at the
    files directly in processing/) never takes a live worker's files."""
    return Path(settings.processing) / "runs"


# ---------------------------------------------------------------- files

def write_atomic(path: Path, text: str) -> Path:
    """Write a complete file under a hidden name, fsync, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def make_entry(record: Record, *, claimed: str, origin: str, stored_path: str, original_name: str,
               run_id: str, sighting: bool) -> dict:
    """One staged document: the record plus what the loader and a crash recovery need."""
    return {
        "version": ENTRY_VERSION,
        "pipeline_version": PIPELINE_VERSION,
        "sha256": record.source.sha256.lower(),
        "claimed": claimed,
        "origin": origin,
        "stored_path": stored_path,
        "original_name": original_name,
        "run": run_id,
        "host": socket.gethostname(),
        "staged_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # a stand-in for bytes already held: loaded only once the full record is in the database
        "sighting": sighting,
        "record": record.model_dump(mode="json"),
    }


def dump_entry(entry: dict) -> str:
    return json.dumps(entry, ensure_ascii=False) + "\n"


def read_entry(path: Path) -> dict:
    """Parse a staged file and validate its record; ValueError when it is not one."""
    text = Path(path).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) != 1:
        raise ValueError(f"{path.name}: expected one JSON line, found {len(lines)}")
    entry = json.loads(lines[0])
    if entry.get("version") != ENTRY_VERSION:
        raise ValueError(f"{path.name}: staged entry version {entry.get('version')!r}, expected {ENTRY_VERSION}")
    entry["record"] = Record.model_validate(entry["record"])
    return entry


def _with_path(entry: dict, path: str) -> dict:
    rec: Record = entry["record"]
    entry = dict(entry, stored_path=path)
    entry["record"] = rec.model_copy(update={"source": rec.source.model_copy(update={"path": path})})
    return entry


def _entry_text(entry: dict) -> str:
    out = dict(entry)
    if isinstance(out["record"], Record):
        out["record"] = out["record"].model_dump(mode="json")
    return dump_entry(out)


# ---------------------------------------------------------------- the worker side

@dataclass
class StageResult:
    """What `StagingStore.save` did; shaped like `store.SaveResult` for `process_file`."""

    status: str
    document_id: str
    copy_of: Optional[str] = None


class StagingStore:
    """Stands in for `Store` inside `process_file`: save() stages, has_sha256() asks the markers.

    One instance per worker run, one file at a time (`begin` names the file the
    next save belongs to). The entry is written under pending/<run>/ and
    published by `publish` once `process_file` has archived the file, with the
    path the file really got.
    """

    def __init__(self, layout: Layout, run_id: str, lake: Optional[Path] = None):
        self.layout = layout
        self.run_id = run_id
        self.lake = lake
        self.lake_added = 0
        self.lake_failed = 0
        self.pending_dir = layout.pending / run_id
        self.item = None
        self.pending: Optional[Path] = None
        self.last_sighting = False
        self._held_answered: set[str] = set()
        self._staged_here: set[str] = set()

    def begin(self, item) -> None:
        self.item = item
        self.pending = None

    def has_sha256(self, sha256: str) -> bool:
        sha = sha256.lower()
        held = sha in self._staged_here or self.layout.known_marker(sha).exists()
        if held:
            self._held_answered.add(sha)
        return held

    def save(self, record: Record, *, stored_path: Optional[str] = None, original_name: Optional[str] = None,
             replace: bool = False) -> StageResult:
        if self.item is None:
            raise RuntimeError("StagingStore.save() outside begin()")
        sha = record.source.sha256.lower()
        ident, _ = inbox.split_claimed(self.item.path)
        entry = make_entry(record, claimed=str(self.item.path), origin=str(self.item.origin),
                           stored_path=str(stored_path or record.source.path), original_name=original_name or "",
                           run_id=self.run_id, sighting=sha in self._held_answered and record.source.pages == 0)
        self.pending = write_atomic(self.pending_dir / f"{ident or uuid.uuid4().hex}{SUFFIX}", dump_entry(entry))
        return StageResult("staged", sha[:16])

    def publish(self, outcome: dict) -> Optional[Path]:
        """After process_file: publish the pending entry of an archived file, drop it otherwise."""
        pending, self.pending, self.item = self.pending, None, None
        if pending is None or not pending.exists():
            return None
        if outcome.get("status") != "staged" or not outcome.get("archived_to"):
            pending.unlink()  # quarantined or handed back: the file's outcome says it all
            return None
        entry = read_entry(pending)
        if entry["stored_path"] != outcome["archived_to"]:
            # another worker took the predicted archive name first: record where the file is
            write_atomic(pending, _entry_text(_with_path(entry, outcome["archived_to"])))
        self._staged_here.add(entry["sha256"])
        self.last_sighting = bool(entry["sighting"])
        self.to_lake(entry)
        dest = self.layout.root / pending.name
        os.rename(pending, dest)
        return dest

    def to_lake(self, entry: dict) -> None:
        """Append to the DuckLake (before publishing: a crash in between is finished by the
        adopter, and the append is idempotent on sha256). A lake that cannot be written does
        not stop staging: the DuckDB loader still gets the record."""
        if self.lake is None or entry.get("sighting"):
            return
        from congvan.pipeline import lake

        try:
            # one connection per append: an attached DuckLake holds its SQLite catalog
            # open, and other writers' attach then waits on it
            con = lake.connect(self.lake)
            try:
                self.lake_added += lake.append(con, [entry])
            finally:
                con.close()
        except Exception as exc:  # noqa: BLE001 - see docstring
            self.lake_failed += 1
            log.error("%s: not written to the lake %s: %s", entry.get("origin"), self.lake, exc)

    def close(self) -> None:
        pass


def _owner(run_dir: Path, run_id: str) -> None:
    write_atomic(run_dir / OWNER, json.dumps({"run": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                                              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}))


def pid_gone(owner: dict) -> bool:
    """True when the owner ran on this host and its process is gone; unknown elsewhere."""
    if owner.get("host") != socket.gethostname() or not owner.get("pid"):
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{owner['pid']}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


IsDead = Callable[[dict], bool]


def stage_run(
    settings: Settings,
    run_id: str,
    *,
    extract: Optional[Callable] = None,
    is_dead: IsDead = pid_gone,
    max_files: Optional[int] = None,
    process: Optional[Callable] = None,
) -> dict:
    """One worker run: adopt dead runs' leftovers, then claim and stage until the inbox is empty.

    Files are claimed one at a time, so runs on several workers share the inbox
    evenly; the claim is `inbox.claim`'s atomic rename, so no file is taken twice.
    `process(item, ctx)` defaults to `flows.ingest._retrying` (process_file with
    its retry policy); the Prefect flow passes a task-wrapped one.
    """
    from congvan.flows import ingest as ing

    t0 = time.monotonic()
    settings = ing.absolute_settings(settings)
    layout = Layout(staging_root(settings).resolve())
    run_dir = runs_dir(settings) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _owner(run_dir, run_id)
    mine = dataclasses.replace(settings, processing=run_dir)
    from congvan.pipeline.lake import lake_dir

    sink = StagingStore(layout, run_id, lake=lake_dir())
    ctx = ing.RunContext(settings=mine, extract=extract or ing._default_extract, open_store=lambda s: sink)
    process = process or ing._retrying
    summary: dict[str, Any] = {"run": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                               "parent_pid": os.getppid(), "staged": 0, "sightings": 0, "quarantined": 0, "failed": 0,
                               "adopted": 0, "recovered_entries": 0, "files": []}

    items = []
    adopted = adopt_dead_runs(settings, layout, run_id, is_dead, summary, sink=sink)
    items.extend(ing.WorkItem(path=p, origin=str(Path(settings.inbox) / inbox.original_name(p)), in_place=False)
                 for p in adopted)

    def take_next():
        if items:
            return items.pop(0)
        for p in inbox.ready_files(settings):
            claimed = inbox.claim(p, mine)
            if claimed is not None:
                return ing.WorkItem(path=claimed, origin=str(p), in_place=False)
        return None

    done = 0
    try:
        while max_files is None or done < max_files:
            item = take_next()
            if item is None:
                break
            sink.begin(item)
            outcome = process(item, ctx)
            published = sink.publish(outcome)
            done += 1
            status = outcome.get("status")
            if published is not None:
                summary["sightings" if sink.last_sighting else "staged"] += 1
            elif status in ("quarantined", "failed"):
                summary[status] += 1
            summary["files"].append({k: outcome.get(k) for k in ("path", "status", "stage", "message",
                                                                 "archived_to", "quarantined_to", "seconds")})
    except BaseException:
        # a file begun stays in our folder for whoever adopts this run; the rest go back
        for it in items:
            if os.path.lexists(it.path):
                inbox.release(it.path, settings)
        raise
    finally:
        sink.close()
        _close_run(run_dir, layout.pending / run_id)
    if sink.lake is not None:
        summary.update(lake_added=sink.lake_added, lake_failed=sink.lake_failed)
    summary["seconds"] = round(time.monotonic() - t0, 2)
    log.info("stage run %s: %s", run_id, {k: v for k, v in summary.items() if k != "files"})
    return summary


def _close_run(run_dir: Path, pending_dir: Path) -> None:
    """Remove the run's folders when nothing is left in them (else a later run adopts them)."""
    left = []
    for d in (run_dir, pending_dir):
        try:
            left += [p for p in d.iterdir() if p.name != OWNER]
        except FileNotFoundError:
            pass
    if not left:
        (run_dir / OWNER).unlink(missing_ok=True)
        for d in (run_dir, pending_dir):
            try:
                d.rmdir()
            except OSError:
                pass


def adopt_dead_runs(settings: Settings, layout: Layout, my_run: str, is_dead: IsDead,
                    summary: Optional[dict] = None, sink: Optional[StagingStore] = None) -> list[Path]:
    """Finish what dead worker runs left: publish their pending entries, retry their claims.

    A run folder is taken by renaming it (atomic), so two adopters never share
    one. Returns the claimed files to process in this run (moved into it).
    """
    summary = summary if summary is not None else {}
    base = runs_dir(settings)
    if not base.is_dir():
        return []
    mine_dir = base / my_run
    out: list[Path] = []
    for d in sorted(base.iterdir()):
        if not d.is_dir() or d.name == my_run or d.name.startswith("."):
            continue
        try:
            owner = json.loads((d / OWNER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {"run": d.name}
        if not is_dead(owner):
            continue
        # "<run>.adopted-<tag>": the folder keeps the dead run's name (its pending entries are
        # under pending/<run>/) and gets the adopter as owner, so if the adopter dies too,
        # the next run adopts it again
        dead_run = d.name.split(ADOPTED)[0]
        taken = base / f"{dead_run}{ADOPTED}{uuid.uuid4().hex[:6]}"
        try:
            os.rename(d, taken)
        except (FileNotFoundError, OSError):
            continue  # another run adopted it first
        _owner(taken, my_run)
        pend = layout.pending / dead_run
        for p in sorted(pend.glob(f"*{SUFFIX}")) if pend.is_dir() else []:
            _finish_pending(p, taken, settings, layout, sink)
            summary["recovered_entries"] = summary.get("recovered_entries", 0) + 1
        try:
            pend.rmdir()
        except OSError:
            pass
        # what remains was claimed but never staged: retry it here (inbox.recover counts the tries)
        for p in inbox.recover(dataclasses.replace(settings, processing=taken)):
            dest = mine_dir / p.name
            try:
                os.rename(p, dest)
            except FileNotFoundError:
                continue
            out.append(dest)
            summary["adopted"] = summary.get("adopted", 0) + 1
        (taken / OWNER).unlink(missing_ok=True)
        try:
            taken.rmdir()
        except OSError:
            log.warning("adopted run folder %s is not empty", taken)
    return out


def _finish_pending(pending: Path, taken_dir: Path, settings: Settings, layout: Layout,
                    sink: Optional[StagingStore] = None) -> None:
    """A dead run staged this record but may not have archived the file: archive it, publish."""
    entry = read_entry(pending)
    claimed = taken_dir / Path(entry["claimed"]).name
    if claimed.exists():
        actual = inbox.archive(claimed, entry["sha256"], settings)
    else:
        actual = _find_archived(Path(entry["stored_path"]), entry["sha256"])
    if actual is not None and str(actual) != entry["stored_path"]:
        entry = _with_path(entry, str(actual))
        write_atomic(pending, _entry_text(entry))
    if actual is None:
        log.warning("%s: staged record of %s whose file is neither claimed nor archived",
                    pending.name, entry["origin"])
    if sink is not None:
        sink.to_lake(entry)
    os.rename(pending, layout.root / pending.name)


def _find_archived(predicted: Path, sha256: str) -> Optional[Path]:
    """The predicted archive name, or the " (n)" variant next to it with these bytes."""
    for cand in inbox._candidates(predicted.name):
        p = predicted.parent / cand
        if not p.exists():
            return None
        try:
            if sha256_file(p) == sha256:
                return p
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- the loader

def _store_has_file(store, sha256: str, path: str) -> bool:
    cols, rows = store.query("SELECT count(*) FROM files WHERE sha256 = ? AND path = ?", [sha256, path])
    return bool(rows and rows[0][0])


# Raised by a bug in our own code, never by a bad record: the load stops rather than
# quarantining every good file.
# Records saved on one held connection before letting readers in (Store.holding): the
# open and close with its checkpoint cost as much as a save.
LOAD_CHUNK = 50
PROGRAMMING_ERRORS = (AttributeError, NameError, ImportError, SyntaxError, AssertionError)


def load(
    settings: Settings,
    *,
    open_store: Optional[Callable[[Settings], Any]] = None,
    limit: Optional[int] = None,
    lock_wait: float = 30.0,
    refresh_index: bool = True,
) -> dict:
    """Save every published staged record into DuckDB, then move it to loaded/.

    The one writer: holds the ingest lock (so `congvan ingest` and a second
    loader wait), saves with `Store.save` (one transaction per document) and
    moves the staged file only after the commit. Loading the same entry twice
    (a crash between commit and move) is recognised by (sha256, path) in
    `files` and changes nothing. A sighting waits until the record of its bytes
    is in. DatabaseBusy stops the load; what is left is loaded next time.
    """
    from congvan.flows.ingest import absolute_settings

    t0 = time.monotonic()
    settings = absolute_settings(settings)
    layout = Layout(staging_root(settings).resolve())
    summary: dict[str, Any] = {"inserted": 0, "duplicates": 0, "copies": 0, "updated": 0, "already": 0,
                               "deferred": 0, "rejected": 0, "left": 0, "seconds": 0.0}
    if open_store is None:
        from congvan.pipeline.store import Store

        def open_store(s: Settings):
            return Store(s.db, read_only=False, wait_seconds=s.db_wait_seconds)

    with inbox.ingest_lock(settings, wait=lock_wait):
        entries = layout.published()
        if limit is not None:
            entries = entries[:limit]
        if not entries:
            summary["seconds"] = round(time.monotonic() - t0, 2)
            return summary
        parsed: list[tuple[Path, Optional[dict], Optional[Exception]]] = []
        for p in entries:
            try:
                parsed.append((p, read_entry(p), None))
            except (ValueError, OSError) as exc:
                parsed.append((p, None, exc))
        # full records first: a sighting of the same bytes must find them in the database
        parsed.sort(key=lambda t: (bool(t[1] and t[1]["sighting"]), t[0].name))
        store = open_store(settings)
        saved_any = False
        held = contextlib.ExitStack()
        try:
            for i, (path, entry, bad) in enumerate(parsed):
                if i % LOAD_CHUNK == 0 and hasattr(store, "holding"):
                    held.close()  # readers get in between chunks
                    try:
                        held.enter_context(store.holding())
                    except DatabaseBusy:
                        summary["left"] = len(parsed) - i
                        log.warning("database busy: %d staged record(s) left for the next load", summary["left"])
                        break
                if bad is not None:
                    _reject(path, None, bad, settings, layout)
                    summary["rejected"] += 1
                    continue
                try:
                    status = _load_one(store, entry)
                except DatabaseBusy:
                    summary["left"] = len(parsed) - i
                    log.warning("database busy: %d staged record(s) left for the next load", summary["left"])
                    break
                except PROGRAMMING_ERRORS:
                    # a bug in our code, not a bad record: stop, move nothing, the entries wait
                    raise
                except Exception as exc:  # noqa: BLE001 - the store refused this record
                    _reject(path, entry, exc, settings, layout)
                    summary["rejected"] += 1
                    continue
                if status == "deferred":
                    summary["deferred"] += 1
                    continue
                saved_any = saved_any or status != "already"
                key = {"duplicate": "duplicates", "copy": "copies"}.get(status, status)
                summary[key] = summary.get(key, 0) + 1
                marker = layout.known_marker(entry["sha256"])
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
                layout.loaded.mkdir(parents=True, exist_ok=True)
                os.replace(path, layout.loaded / path.name)
            held.close()
            if saved_any and refresh_index and hasattr(store, "refresh_index"):
                try:
                    store.refresh_index()
                except DatabaseBusy:
                    log.warning("database busy: search index left stale")
        finally:
            held.close()
            close = getattr(store, "close", None)
            if close:
                close()
    summary["seconds"] = round(time.monotonic() - t0, 2)
    log.info("load: %s", summary)
    return summary


def _load_one(store, entry: dict) -> str:
    sha, path = entry["sha256"], entry["stored_path"]
    if entry["sighting"] and not store.has_sha256(sha):
        return "deferred"
    if _store_has_file(store, sha, path):
        return "already"
    result = store.save(entry["record"], stored_path=path, original_name=entry["original_name"] or None)
    return getattr(result, "status", None) or "inserted"


def _reject(path: Path, entry: Optional[dict], exc: Exception, settings: Settings, layout: Layout) -> None:
    """The store refused the record: the file goes from archive to quarantine, the entry to rejected/."""
    reason: dict[str, Any] = {"entry": path.name, "error": type(exc).__name__, "message": str(exc) or repr(exc),
                              "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "pipeline_version": PIPELINE_VERSION}
    if entry is not None and Path(entry["stored_path"]).exists():
        q = inbox.quarantine(Path(entry["stored_path"]), StoreRefused(reason["message"]), "store", settings,
                             original_path=entry["origin"], sha256=entry["sha256"], message=reason["message"])
        reason["quarantined_to"] = str(q)
    layout.rejected.mkdir(parents=True, exist_ok=True)
    dest = layout.rejected / path.name
    os.replace(path, dest)
    write_atomic(dest.with_name(dest.name + ".reason.json"), json.dumps(reason, ensure_ascii=False, indent=2) + "\n")
    log.error("%s: rejected by the store: %s", path.name, reason["message"])


def status(settings: Settings) -> dict:
    """Counts of staged entries by state, and claims held by worker runs."""
    layout = Layout(staging_root(settings))
    def count(d: Path, pattern: str = f"*{SUFFIX}") -> int:
        return sum(1 for _ in d.rglob(pattern)) if d.is_dir() else 0
    runs = runs_dir(settings)
    return {"published": len(layout.published()), "pending": count(layout.pending), "loaded": count(layout.loaded),
            "rejected": count(layout.rejected),
            "claimed": sum(1 for p in runs.rglob("*") if p.is_file() and p.name != OWNER) if runs.is_dir() else 0}
