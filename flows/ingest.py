"""Ingestion: inbox or explicit paths → extract → DuckDB → archive / quarantine.

One per-file function (`process_file`) does the work; `ingest` runs it in a
thread pool without Prefect (tests, `congvan ingest --no-prefect`), and
`ingest_flow` runs the very same function as one Prefect task per file. Prefect
is imported only when `ingest_flow` is first touched (PEP 562 module
`__getattr__`), so the plain path stays light.

Failure vocabulary, as reported in the summary:
* quarantined: the file is bad (corrupt, encrypted, unsupported, extractor
  error) — moved to quarantine/ with a reason; it never retries;
* failed: something transient (database busy) outlasted the retries — an inbox
  file goes back to the inbox for the next run;
* for explicit paths nothing is moved: errors are reported only.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from congvan.config import Settings
from congvan.pipeline import inbox, pool
from congvan.pipeline.errors import ArchiveFailed, CongvanError, DatabaseBusy
from congvan.pipeline.acquire import sha256_file

log = logging.getLogger("congvan.ingest")

TRANSIENT = (DatabaseBusy,)
RETRIES = 2
RETRY_DELAY = 5.0

# How long the run keeps the writer connection (see _Hold): opening DuckDB and closing it (with its
# checkpoint) cost as much as a save, so while saves keep coming the connection stays open.
HOLD_LINGER = 2.0   # seconds without a store operation: let go (between OCR'd files)
HOLD_MAX = 5.0      # seconds held at a stretch: let go, so the WAL is checkpointed now and then
KNOCK_GAP = 0.5     # after another process knocked (Store.knocked): seconds before opening again
HOLD_THREADS = 1    # DuckDB threads while held: saves are small statements; the cores extract

ExtractFn = Callable[[Path, Settings], Any]
OpenStoreFn = Callable[[Settings], Any]


# ---------------------------------------------------------------- results

class Summary(dict):
    """Counts plus one entry per file; a dict so it crosses Prefect and the CLI unchanged.

    Keys: taken, inserted, duplicates, copies, archived, quarantined, failed,
    skipped, errors (explicit paths), seconds, files: [outcome dicts].
    """

    COUNTS = ("taken", "inserted", "duplicates", "copies", "archived", "quarantined", "failed", "skipped", "errors")

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        for k in self.COUNTS:
            self.setdefault(k, 0)
        self.setdefault("files", [])
        self.setdefault("seconds", 0.0)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def add(self, outcome: dict) -> None:
        self["files"].append(outcome)
        status = outcome["status"]
        key = {"inserted": "inserted", "duplicate": "duplicates", "copy": "copies", "quarantined": "quarantined",
               "failed": "failed", "skipped": "skipped", "error": "errors"}.get(status)
        if key:
            self[key] += 1
        if outcome.get("archived_to"):
            self["archived"] += 1
        if status != "skipped":
            self["taken"] += 1


# `congvan ingest` exit codes, most urgent first (README, "The inbox").
EXIT_OK = 0            # every file taken is in the archive with its record (or there was nothing to do)
EXIT_BAD_FILES = 1     # the run finished, but some files were quarantined (inbox) or could not be read (paths)
EXIT_RETRY = 3         # some files hit a transient failure (database held by another process) and wait for the next run
EXIT_LOCKED = 75       # EX_TEMPFAIL: another ingestion run holds the lock; this one did nothing


def exit_code(summary: dict) -> int:
    """The process exit status for a run summary: scripts and schedulers can tell
    "done", "bad files to look at", "try again later" and "skipped" apart."""
    if summary.get("locked"):
        return EXIT_LOCKED
    if summary.get("failed", 0):
        return EXIT_RETRY
    if summary.get("quarantined", 0) or summary.get("errors", 0):
        return EXIT_BAD_FILES
    return EXIT_OK


@dataclass
class WorkItem:
    """One file to process. `path` is where it is now (processing/ or in place); `origin` where it came from."""

    path: Path
    origin: str
    in_place: bool
    sha256: Optional[str] = None  # hashed by the run's pre-check (a claimed file cannot change under us)


@dataclass
class RunContext:
    settings: Settings
    extract: ExtractFn
    open_store: OpenStoreFn
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    # Store operations waiting for the writer (see _with_store's group commit).
    store_queue: list = field(default_factory=list)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    # sha256 → record, so a retry after DatabaseBusy does not OCR the file again.
    extracted: dict = field(default_factory=dict)
    store: Any = None
    # sha256 → Event while a file with those bytes is being processed, so the same
    # bytes twice in one run are extracted once (the second becomes a duplicate).
    inflight: dict = field(default_factory=dict)
    inflight_lock: threading.Lock = field(default_factory=threading.Lock)
    started: set = field(default_factory=set)
    # current path → sha256, so the Prefect extraction cache keys on the hash this run already took.
    sha_by_path: dict = field(default_factory=dict)
    # Set once a file ran out of retries on DatabaseBusy: the rest of the run hands its files
    # straight back instead of each waiting out the same lock (minutes per file).
    db_gave_up: threading.Event = field(default_factory=threading.Event)
    # sha256 the store held when the run started (one batched lookup), plus those this run saved;
    # None: ask the store per file.
    held: Optional[set] = None
    own_pool: bool = False  # this run started the extraction processes (and stops them)
    hold: Any = None  # _Hold, once the store can hold its connection across operations


def _default_extract(path: Path, settings: Settings):
    from congvan.pipeline.run import extract_file

    return extract_file(path, settings)


# What `_default_extract` is before anyone swaps it (tests do): only the real extraction
# is sent to worker processes.
_REAL_EXTRACT = _default_extract


def _default_open_store(settings: Settings):
    from congvan.pipeline.store import Store

    return Store(settings.db, read_only=False, wait_seconds=settings.db_wait_seconds)


class _StoreJob:
    """One `fn(store)` waiting for the writer, with its outcome for the thread that asked."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn, self.done = fn, threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def run(self, store) -> None:
        try:
            self.value = self.fn(store)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that asked
            self.error = exc
        self.done.set()

    def fail(self, exc: BaseException) -> None:
        if not self.done.is_set():
            self.error = exc
            self.done.set()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _can_hold(store) -> bool:
    return all(callable(getattr(store, n, None)) for n in ("hold", "release", "knocked", "held_for"))


class _Hold:
    """Keeps the store's writer connection open while the run is busy writing.

    Opening DuckDB and closing it (a checkpoint) cost as much as a save, and a text-layer run saves
    several documents a second, so the connection is kept between operations (each save is still
    its own transaction) and let go: after HOLD_LINGER seconds without one (a thread watches), after
    HOLD_MAX seconds at a stretch, and at once when another process knocks (`congvan sql` waiting
    for the file, Store.knocked): then the run waits KNOCK_GAP seconds before opening again, long
    enough for the waiter's next try (it polls every store.KNOCK_POLL seconds). acquire() and
    after() are called with ctx.store_lock held; the watching thread takes it to let go.
    """

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.last_used = time.monotonic()
        self.reopen_at = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self, store) -> None:
        if store.held_for() is not None:
            return
        wait = self.reopen_at - time.monotonic()
        if wait > 0:  # another process asked for the file: leave it to them for a moment
            time.sleep(wait)
        store.hold(threads=HOLD_THREADS)
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="ingest-store-hold", daemon=True)
            self._thread.start()

    def after(self, store, failed: bool = False) -> None:
        """After an operation: let go if asked to, held long enough, or the operation failed (a
        DuckDB error can leave the connection unusable: the next operation opens a fresh one)."""
        self.last_used = time.monotonic()
        held = store.held_for()
        if held is None:
            return
        if store.knocked():
            store.release()
            self.reopen_at = time.monotonic() + KNOCK_GAP
        elif held >= HOLD_MAX or failed:
            store.release()

    def _watch(self) -> None:
        ctx = self.ctx
        while not self._stop.wait(min(0.05, HOLD_LINGER / 2)):
            store = ctx.store
            if store is None or store.held_for() is None:
                continue
            idle = time.monotonic() - self.last_used >= HOLD_LINGER
            if not (idle or store.knocked() or store.held_for() >= HOLD_MAX):
                continue
            if not ctx.store_lock.acquire(timeout=0.05):
                continue  # a save is running: it checks again when it is done
            try:
                if ctx.store is store and store.held_for() is not None:
                    if store.knocked():
                        store.release()
                        self.reopen_at = time.monotonic() + KNOCK_GAP
                    elif time.monotonic() - self.last_used >= HOLD_LINGER or store.held_for() >= HOLD_MAX:
                        store.release()
            except Exception as exc:  # noqa: BLE001 - closing failed: the next operation reopens
                log.warning("releasing the database: %s", exc)
            finally:
                ctx.store_lock.release()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _with_store(ctx: RunContext, fn: Callable[[Any], Any]) -> Any:
    """Run `fn(store)` under the in-process writer lock, opening the store on first use.

    The lock makes this process one writer at a time, and also serialises the choice of archive
    names. The writer connection is kept open while operations keep coming and let go when they
    stop, after a bounded time, or when another process asks for the file (_Hold), so
    `congvan sql` gets in while a run writes. Group commit: whoever takes the lock also runs the
    operations that queued up behind it. A store that cannot hold (test doubles) is held per batch
    (Store.holding) when several operations queued, as before.
    """
    job = _StoreJob(fn)
    with ctx.queue_lock:
        ctx.store_queue.append(job)
    while not job.done.is_set():
        if not ctx.store_lock.acquire(blocking=False):
            job.done.wait(0.02)  # done by the holder's batch, or try the lock again
            continue
        try:
            with ctx.queue_lock:
                batch, ctx.store_queue[:] = list(ctx.store_queue), []
            if not batch:
                continue
            try:
                if ctx.store is None:
                    ctx.store = ctx.open_store(ctx.settings)
                    if _can_hold(ctx.store):
                        ctx.hold = _Hold(ctx)
                if ctx.hold is not None:
                    _run_held(ctx, batch)
                else:
                    hold = getattr(ctx.store, "holding", None)
                    with (hold() if hold is not None and len(batch) > 1 else contextlib.nullcontext()):
                        for j in batch:
                            j.run(ctx.store)
            except BaseException as exc:  # noqa: BLE001 - opening failed (DatabaseBusy): each asker sees it
                for j in batch:
                    j.fail(exc)
        finally:
            ctx.store_lock.release()
    return job.outcome()


def _run_held(ctx: RunContext, batch: list) -> None:
    """Run a batch on the held connection, letting go between jobs if another process knocks."""
    store, hold = ctx.store, ctx.hold
    for j in batch:
        hold.acquire(store)
        j.run(store)
        hold.after(store, failed=j.error is not None)


def _warm_up_store() -> None:
    """Load the body registry's province data (~0.2 s of CPU, once per process) in the background
    while the worker processes start, instead of inside the run's first save."""
    def warm():
        try:
            from congvan.pipeline.bodies import resolve

            resolve("Ủy ban nhân dân tỉnh Điện Biên")
        except Exception:  # noqa: BLE001 - only a head start: the first save loads it otherwise
            pass
    threading.Thread(target=warm, name="ingest-warm-up", daemon=True).start()


def _close_store(ctx: RunContext) -> None:
    if ctx.hold is not None:
        ctx.hold.stop()
    with ctx.store_lock:
        if ctx.store is not None:
            if ctx.hold is not None:
                try:
                    ctx.store.release()
                except Exception as exc:  # noqa: BLE001 - the run's outcome is already decided
                    log.warning("closing the database: %s", exc)
                ctx.hold = None
            close = getattr(ctx.store, "close", None)
            if close:
                close()
            ctx.store = None


# ---------------------------------------------------------------- one file

def process_file(item: WorkItem, ctx: RunContext) -> dict:
    """Fingerprint, skip if held, extract, save, then archive (inbox) or leave in place.

    Bad-file errors end as a "quarantined" (inbox) or "error" (in place)
    outcome; transient errors (DatabaseBusy) are raised so the caller's retry
    policy (Prefect task retries, or `_retrying` below) can run it again.
    """
    s = ctx.settings
    t0 = time.monotonic()
    out: dict = {"path": item.origin, "status": None, "stage": None, "message": None,
                 "sha256": None, "document_id": None, "archived_to": None, "quarantined_to": None}

    def bad(exc: BaseException, stage: str) -> dict:
        stage = getattr(exc, "stage", None) or stage
        message = inbox._plain_message(exc, Path(item.path), item.origin) if not item.in_place else (
            str(exc) or type(exc).__name__)
        out.update(stage=stage, message=message, error=type(exc).__name__)
        if item.in_place:
            out["status"] = "error"
        else:
            q = inbox.quarantine(item.path, exc, stage, s, original_path=item.origin, sha256=out["sha256"],
                                 message=message)
            out.update(status="quarantined", quarantined_to=str(q))
        out["seconds"] = round(time.monotonic() - t0, 3)
        log.warning("%s: %s at %s: %s", item.origin, out["status"], stage, out["message"])
        return out

    if ctx.db_gave_up.is_set():
        skipped = DatabaseBusy("not tried: the database stayed held by another process for an earlier file of this run")
        skipped.not_tried = True
        return finish_failed(item, skipped, ctx)
    if not item.in_place:
        try:
            item.path = inbox.mark_started(item.path)
        except FileNotFoundError:  # gone from processing/ (an operator moved it): nothing to do
            return finish_failed(item, CongvanError("the claimed file disappeared from processing/", stage="claim"), ctx)
    ctx.started.add(str(item.path))
    try:
        sha = item.sha256 or sha256_file(item.path)
    except OSError as exc:
        return bad(CongvanError(f"cannot read the file: {exc.strerror or exc}", stage="read"), "read")
    out["sha256"] = sha
    ctx.sha_by_path[str(item.path)] = sha
    while True:
        with ctx.inflight_lock:
            busy = ctx.inflight.get(sha)
            if busy is None:
                mine = ctx.inflight[sha] = threading.Event()
                break
        busy.wait()
    try:
        return _process_held(item, ctx, sha, out, bad, t0)
    finally:
        with ctx.inflight_lock:
            ctx.inflight.pop(sha, None)
        mine.set()


def _process_held(item: WorkItem, ctx: RunContext, sha: str, out: dict, bad, t0: float) -> dict:
    """process_file's second half, while no other thread of this run holds the same bytes."""
    s = ctx.settings

    if not item.in_place and not inbox.is_supported(item.path):
        # An unexpected extension: the content decides (a scanner's "SCAN0001" or "KH.pdf.bak"
        # holding a PDF is taken); anything else is quarantined at once with what it looks like.
        from congvan.pipeline.acquire import sniff

        try:
            sniff(Path(item.path))
        except CongvanError as exc:
            return bad(exc, "open")

    def finish(result_status: str, document_id=None, copy_of=None, dest: Optional[Path] = None) -> dict:
        out.update(status=result_status, document_id=document_id)
        if copy_of:
            out["copy_of"] = copy_of
        if dest is not None:
            out["archived_to"] = str(dest)
        out["seconds"] = round(time.monotonic() - t0, 3)
        log.info("%s: %s%s", item.origin, result_status, f" → {dest}" if dest else "")
        return out

    # Same bytes already held: no need to OCR again. Still record the sighting
    # (path, name) so the archived copy is found from the database. A store that
    # cannot answer is not this file's fault: the error propagates ("failed", file kept).
    # ctx.held answers without opening the database: bytes held when the run began or saved by it
    # since (same file twice in one run). Bytes another process saves meanwhile are extracted for
    # nothing, and save() still records them as a duplicate.
    if (sha in ctx.held) if ctx.held is not None else _with_store(ctx, lambda st: st.has_sha256(sha)):
        record = _sighting(sha, item)
    else:
        record = ctx.extracted.get(sha)
        if record is None:
            try:
                record = ctx.extract(Path(item.path), s)
            except TRANSIENT:
                raise
            except Exception as exc:  # any failure to read this file is the file's, not the run's
                return bad(exc, "extract")
            ctx.extracted[sha] = record

    def save(store):
        # Decide the final home first, so the record points at where the file will live.
        original = Path(item.origin).name
        dest = Path(item.path).resolve() if item.in_place else inbox.next_archive_path(item.path, s, name=original)
        stored = inbox.text_name(str(dest))  # archive names are always text; an in-place one may not be
        rec = _with_source_path(record, stored)
        result = store.save(rec, stored_path=stored, original_name=original)
        if item.in_place:
            return result, None
        try:
            return result, inbox.archive(item.path, sha, s, name=original)
        except OSError as exc:
            raise ArchiveFailed(f"saved, but could not move the file into the archive: {exc.strerror or exc}") from exc

    try:
        result, moved = _with_store(ctx, save)
    except TRANSIENT:
        raise
    except ArchiveFailed as exc:
        # The record is in; the next run finds the bytes held and archives the file as a sighting.
        return finish_failed(item, exc, ctx)
    except Exception as exc:
        return bad(exc, "store")
    ctx.extracted.pop(sha, None)
    if ctx.held is not None:
        ctx.held.add(sha)
    status = getattr(result, "status", None) or (result.get("status") if isinstance(result, dict) else "inserted")
    doc_id = getattr(result, "document_id", None) if not isinstance(result, dict) else result.get("document_id")
    copy_of = getattr(result, "copy_of", None) if not isinstance(result, dict) else result.get("copy_of")
    return finish(status, document_id=doc_id, copy_of=copy_of, dest=moved)


def _sighting(sha: str, item: WorkItem):
    """A stand-in record for bytes the store already holds: save() only looks at the sha256
    and logs the sighting (status "duplicate") without touching the stored extraction."""
    from congvan.schemas.record import Record, Source

    return Record(source=Source(path=str(item.path), sha256=sha, pages=0, text_source="text_layer"))


def _with_source_path(record, path: str):
    """The record's source.path is the file's lasting home, not a processing/ name."""
    src = getattr(record, "source", None)
    if src is None or not hasattr(record, "model_copy"):
        return record
    return record.model_copy(update={"source": src.model_copy(update={"path": path})})


def finish_failed(item: WorkItem, exc: BaseException, ctx: RunContext) -> dict:
    """After retries ran out on a transient error: hand an inbox file back for the next run."""
    message = str(exc)
    if isinstance(exc, DatabaseBusy):
        if not getattr(exc, "not_tried", False):  # the store's words are meant for analysts; say what happened
            message = (f"the database {ctx.settings.db} stayed held by another process (another ingestion, or "
                       f"an open DuckDB connection) through CONGVAN_DB_WAIT={ctx.settings.db_wait_seconds:g}s "
                       f"and {RETRIES} retries")
        ctx.db_gave_up.set()
    out = {"path": item.origin, "status": "failed", "stage": getattr(exc, "stage", "pipeline"),
           "error": type(exc).__name__, "message": message, "archived_to": None, "quarantined_to": None}
    if not item.in_place and os.path.lexists(item.path):
        try:
            out["returned_to"] = str(inbox.release(item.path, ctx.settings))
            out["message"] += "; the file is back in the inbox for the next run"
        except OSError as move_exc:  # left in processing/: the next run's recover() retries it
            out["returned_to"] = None
            out["message"] += "; the file stays in processing/ and the next run retries it"
            log.error("%s: could not return it to the inbox (%s); it stays in %s",
                      item.origin, move_exc, item.path)
    log.error("%s: failed (%s): %s", item.origin, type(exc).__name__, out["message"])
    return out


def _retrying(item: WorkItem, ctx: RunContext) -> dict:
    """The plain path's twin of the Prefect task policy: retry transient errors only."""
    for attempt in range(RETRIES + 1):
        try:
            return process_file(item, ctx)
        except TRANSIENT as exc:
            if attempt == RETRIES:
                return finish_failed(item, exc, ctx)
            log.info("%s: %s, retry %d in %.0fs", item.origin, type(exc).__name__, attempt + 1, RETRY_DELAY)
            time.sleep(RETRY_DELAY)
        except Exception as exc:  # a bug in our own code: do not lose the file, do not stop the run
            return finish_failed(item, exc, ctx)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- what to process

def collect(paths: Iterable[str | Path], settings: Optional[Settings] = None) -> tuple[list[WorkItem], list[dict]]:
    """Explicit paths → in-place work items; folders recursively, supported extensions only.

    A file named explicitly is always tried (the pipeline judges its content).
    Inside folders: other extensions are skipped and reported; hidden and
    temporary names are ignored silently (.git, .DS_Store, downloads in
    progress); our own data folder (database, archive, quarantine, processing,
    Prefect state) is never walked into, so `congvan ingest .` does not ingest
    its own archive twice.
    """
    items: list[WorkItem] = []
    skipped: list[dict] = []
    seen: set[Path] = set()
    own: set[Path] = set()
    if settings is not None:
        for d in (Path(settings.db).parent, settings.archive, settings.quarantine, settings.processing):
            own.add(Path(d).resolve())

    def add(p: Path) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            items.append(WorkItem(path=p, origin=inbox.text_name(str(p)), in_place=True))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and (Path(root) / d).resolve() not in own)
                for name in sorted(files):
                    f = Path(root) / name
                    if inbox.is_temporary(name):
                        continue
                    if not inbox.is_supported(f):
                        skipped.append({"path": inbox.text_name(str(f)), "status": "skipped",
                                        "message": f"unsupported extension '{f.suffix or '(none)'}'"})
                    elif f.is_file():
                        add(f)
        elif p.is_file():
            add(p)
        else:
            skipped.append({"path": inbox.text_name(str(p)), "status": "error", "stage": "read",
                            "message": "no such file or folder"})
    return items, skipped


def _inbox_items(settings: Settings) -> tuple[list[WorkItem], int, list[dict]]:
    """Recover what a dead run left in processing/, then claim every settled inbox file.
    Returns the work, how many were recovered, and outcomes for files that could not be claimed."""
    items = [WorkItem(path=p, origin=str(Path(settings.inbox) / inbox.original_name(p)), in_place=False)
             for p in inbox.recover(settings)]
    recovered = len(items)
    unclaimed: list[dict] = []
    for p in inbox.ready_files(settings):
        try:
            claimed = inbox.claim(p, settings)
        except OSError as exc:  # e.g. a sub-folder we may not write in: the file stays where it is
            unclaimed.append({"path": inbox.text_name(str(p)), "status": "failed", "stage": "claim",
                              "error": type(exc).__name__,
                              "message": f"cannot take it from the inbox: {exc.strerror or exc}; it stays there"})
            log.error("%s: cannot claim: %s", inbox.text_name(str(p)), exc)
            continue
        if claimed is not None:
            items.append(WorkItem(path=claimed, origin=inbox.text_name(str(p)), in_place=False))
    return items, recovered, unclaimed


def _precheck(items: list[WorkItem], ctx: RunContext, summary: "Summary") -> list[WorkItem]:
    """Hash every file once and ask the store about all of them in one go; returns the work left.

    Explicit paths whose bytes are held are settled here: their sightings are written in one
    transaction (none when already recorded at that path), so re-running over an unchanged folder
    of 1,000 files costs a hash each and one open of the database instead of an open, a write and
    a checkpoint per file (~125 ms each). Inbox files still go through process_file, since each must
    be archived with its sighting, but skip the per-file lookup. Stores without the batched calls
    (test doubles, the staging store) and a busy database fall back to the per-file path.
    """
    if not items:
        return items
    for it in items:
        try:
            it.sha256 = sha256_file(it.path)
        except OSError:
            it.sha256 = None  # process_file reports it
    hashed = [it for it in items if it.sha256]
    try:
        store = _with_store(ctx, lambda st: st)
        if not hasattr(store, "known_sha256"):
            return items
        in_place = [it for it in hashed if it.in_place]
        if in_place and hasattr(store, "record_sightings"):
            rows = [(it.sha256, inbox.text_name(str(Path(it.path).resolve())), Path(it.origin).name)
                    for it in in_place]
            results = _with_store(ctx, lambda st: st.record_sightings(rows))
            settled = set()
            for it, res in zip(in_place, results):
                if res is None:
                    continue
                settled.add(id(it))
                out = {"path": it.origin, "status": "duplicate", "stage": None, "message": None,
                       "sha256": it.sha256, "document_id": res.document_id, "archived_to": None,
                       "quarantined_to": None, "seconds": 0.0}
                if res.copy_of:
                    out["copy_of"] = res.copy_of
                summary.add(out)
            if settled:
                log.info("%d file(s) already held: sightings recorded without extraction", len(settled))
            items = [it for it in items if id(it) not in settled]
        ctx.held = _with_store(ctx, lambda st: st.known_sha256(it.sha256 for it in items if it.sha256))
    except Exception as exc:  # noqa: BLE001 - busy or broken store: each file meets it on its own,
        ctx.held = None        # with the usual retries and outcomes (nothing is lost here)
        log.info("batched pre-check skipped (%s): files are checked one by one", type(exc).__name__)
    return items


# ---------------------------------------------------------------- the run

def setup_file_log(settings: Settings) -> Path:
    """Append run logs to data/logs/ingest.log (beside the database), once per process."""
    path = Path(settings.db).parent / "logs" / "ingest.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path.resolve())
    if not any(getattr(h, "baseFilename", None) == target for h in log.handlers):
        h = logging.FileHandler(target, encoding="utf-8")
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
        log.addHandler(h)
    log.setLevel(logging.INFO)
    return path


Runner = Callable[[list[WorkItem], RunContext, Callable[[dict], None]], None]


def files_in_flight(ctx: RunContext) -> int:
    """Files worked on at once. With extraction in worker processes, twice the workers: the
    processes stay busy while finished files wait for the writer, and those waiting saves go in
    together (group commit) instead of one open and close each."""
    workers = max(1, int(ctx.settings.workers))
    return 2 * workers if ctx.own_pool else workers


def _thread_runner(items: list[WorkItem], ctx: RunContext, on_done: Callable[[dict], None]) -> None:
    workers = files_in_flight(ctx)
    if workers == 1 or len(items) <= 1:
        for it in items:
            on_done(_retrying(it, ctx))
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest")
    try:
        futs = [pool.submit(_retrying, it, ctx) for it in items]
        for f in as_completed(futs):
            on_done(f.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # queued files are not begun; run_ingest gives them back
        raise
    pool.shutdown()


def absolute_settings(settings: Settings) -> Settings:
    """A copy with absolute folders: stored paths must not depend on the cwd of whoever runs us
    (a served flow run is a subprocess of the runner)."""
    import dataclasses

    return dataclasses.replace(settings, **{k: Path(os.path.abspath(getattr(settings, k)))
                                            for k in ("db", "inbox", "archive", "quarantine", "processing")})


def run_ingest(
    paths: Optional[list[str | Path]],
    settings: Settings,
    *,
    progress: bool = True,
    extract: Optional[ExtractFn] = None,
    open_store: Optional[OpenStoreFn] = None,
    runner: Runner = _thread_runner,
    lock_wait: float = 5.0,
) -> Summary:
    """Shared body of `ingest` and `ingest_flow`; `runner` decides how files are fanned out."""
    t0 = time.monotonic()
    settings = absolute_settings(settings)
    setup_file_log(settings)
    ctx = RunContext(settings=settings, extract=extract or _default_extract, open_store=open_store or _default_open_store)
    summary = Summary(started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      source="paths" if paths else str(settings.inbox))
    try:
        lock = inbox.ingest_lock(settings, wait=lock_wait)
        lock.__enter__()
    except inbox.IngestLocked as exc:
        # Not an error of this run's files: say so and leave everything where it is.
        summary["locked"] = str(exc)
        log.warning("run skipped: %s", exc)
        if progress:
            from rich.console import Console

            Console(stderr=True).print(f"[yellow]{exc}[/]: nothing done")
        return summary
    try:
        if paths:
            items, skipped = collect(paths, settings)
            for sk in skipped:
                summary.add(sk)
            summary["recovered"] = 0
        else:
            items, summary["recovered"], unclaimed = _inbox_items(settings)
            for u in unclaimed:
                summary.add(u)
        if ctx.extract is _REAL_EXTRACT and pool.wanted(settings, len(items)) \
                and pool.start(int(settings.workers)):  # workers import the pipeline while files are hashed
            ctx.extract = pool.extract
            ctx.own_pool = True
        if items and open_store is None:
            _warm_up_store()
        items = _precheck(items, ctx, summary)
        log.info("run start: %d file(s) from %s", len(items), summary["source"])
        bar = _Progress(len(items), enabled=progress)
        with bar:
            def on_done(outcome: dict) -> None:
                summary.add(outcome)
                bar.advance(outcome)

            try:
                runner(items, ctx, on_done)
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM from the runner): files not yet begun go back
                # to the inbox untouched; one mid-way stays in processing/ for recover().
                for it in items:
                    if not it.in_place and str(it.path) not in ctx.started and os.path.lexists(it.path):
                        try:
                            inbox.release(it.path, settings)
                        except OSError:
                            pass
                raise
        # Rebuild the search index once per run, not per document, so the next search is fast
        # (search would otherwise rebuild a stale index itself).
        if ctx.store is not None and hasattr(ctx.store, "refresh_index"):
            try:
                _with_store(ctx, lambda st: st.refresh_index())  # on the held connection, if still held
            except Exception as exc:  # noqa: BLE001 - not this run's files' fault; search copes
                log.warning("search index not refreshed: %s", exc)
    finally:
        _close_store(ctx)
        if ctx.own_pool:  # a long-lived caller (serve) should not keep idle workers' memory between runs
            pool.shutdown_soon()
        lock.__exit__(None, None, None)
    summary["seconds"] = round(time.monotonic() - t0, 2)
    log.info("run end: %s", {k: summary[k] for k in Summary.COUNTS} | {"seconds": summary["seconds"]})
    if progress:
        print_summary(summary)
    return summary


def ingest(
    paths: Optional[list[str | Path]],
    settings: Settings,
    progress: bool = True,
    *,
    extract: Optional[ExtractFn] = None,
    open_store: Optional[OpenStoreFn] = None,
    lock_wait: float = 5.0,
) -> Summary:
    """Ingest without Prefect. No paths: the inbox (claim → archive/quarantine). Paths: in place.

    `extract(path, settings) -> Record` and `open_store(settings) -> Store` are
    injectable so tests can run without OCR or DuckDB.
    """
    return run_ingest(paths, settings, progress=progress, extract=extract, open_store=open_store, lock_wait=lock_wait)


# ---------------------------------------------------------------- display

class _Progress:
    """A rich progress bar that is a no-op when disabled or when there is nothing to do."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled and total > 0
        self.total = total
        self._p = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                               TextColumn("{task.description}"), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("", total=self.total)
        return self

    def advance(self, outcome: dict) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=1, description=f"{Path(outcome['path']).name[:40]}: {outcome['status']}")

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)
        return False


def print_summary(summary: Summary, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(stderr=True)
    t = Table(title=f"ingest: {summary['taken']} file(s) in {summary['seconds']}s", min_width=40)
    t.add_column("outcome")
    t.add_column("files", justify="right")
    for c in ("inserted", "duplicates", "copies", "archived", "quarantined", "failed", "errors", "skipped"):
        if summary[c] or c in ("inserted", "quarantined"):
            t.add_row(c, str(summary[c]))
    console.print(t)
    problems = [f for f in summary["files"] if f["status"] in ("quarantined", "failed", "error")]
    skipped = [f for f in summary["files"] if f["status"] == "skipped"]
    if skipped:  # one line, not one row per README: folders hold many non-dispatch files
        from collections import Counter

        kinds = Counter(Path(f["path"]).suffix.lower() or "(none)" for f in skipped)
        console.print(f"skipped {len(skipped)} file(s) with other extensions: "
                      + ", ".join(f"{k} ×{n}" for k, n in kinds.most_common()))
    if summary.get("locked"):
        console.print(f"[yellow]{summary['locked']}[/]")
    if problems:
        pt = Table(title="not ingested")
        for c in ("file", "status", "stage", "reason"):
            pt.add_column(c, overflow="fold")
        for f in problems[:200]:
            pt.add_row(f["path"], f["status"], f.get("stage") or "", f.get("message") or "")
        console.print(pt)


# ---------------------------------------------------------------- Prefect (lazy)

def prefect_env(settings: Optional[Settings] = None) -> None:
    """Prefect state under data/ (unless PREFECT_HOME is set), no analytics, our logs in run logs.

    (The UI stays as Prefect decides: `congvan serve`'s server shows it, set
    PREFECT_SERVER_UI_ENABLED=false to save its start-up time.)

    Must run before `import prefect`: Prefect reads these when its settings load.
    """
    settings = settings or Settings()
    os.environ.setdefault("PREFECT_HOME", str((Path(settings.db).parent / "prefect").resolve()))
    # Prefect creates its home without parents; a missing data/ would leave the
    # temporary server without its SQLite file, failing only after a long timeout.
    Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "congvan")
    # the same loggers run outside flows too (`--no-prefect`): no warning there
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # The in-process (ephemeral) server migrates a fresh SQLite on first use; on a
    # busy 2-core machine that outlasts Prefect's default 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


_FLOW = None


def _build_flow():
    global _FLOW
    if _FLOW is not None:
        return _FLOW
    prefect_env()
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.futures import as_completed as completed_futures
    from prefect.utilities.annotations import quote

    def _transient_only(task_, task_run, state) -> bool:
        """Retry DatabaseBusy and friends; a bad file fails the same way every time."""
        try:
            state.result()
        except TRANSIENT:
            return True
        except BaseException:
            return False
        return False

    def ingest_file(item, ctx, name: str) -> dict:
        return process_file(item, ctx)

    # Defined in a function (so Prefect loads lazily), but addressed as module attributes:
    # served deployments import `congvan.flows.ingest.ingest_flow` by that name.
    ingest_file.__qualname__ = "ingest_file"
    ingest_file = task(name="ingest-file", retries=RETRIES, retry_delay_seconds=RETRY_DELAY,
                       retry_condition_fn=_transient_only, cache_policy=NO_CACHE,
                       task_run_name="{name}")(ingest_file)

    # Only the extraction is cached, never the file's outcome: a cached record is still saved,
    # and the file still archived, by ingest-file (which is never cached). The key is the file's
    # sha256 + PIPELINE_VERSION + a hash of the record-making code + OCR language/dpi
    # (cache.extraction_key), so any extraction change misses; failures are never cached.
    def extract_file_cached(path: Path, settings: Settings, sha256: str, extract, name: str):
        return extract(Path(path), settings)

    from datetime import timedelta

    from congvan.pipeline.cache import extraction_key

    extract_file_cached.__qualname__ = "extract_file_cached"
    extract_file_cached = task(
        name="extract-file", persist_result=True, task_run_name="extract {name}",
        cache_key_fn=lambda _ctx, p: extraction_key(p["sha256"], p["settings"]),
        cache_expiration=timedelta(days=Settings().task_cache_days))(extract_file_cached)

    def cached(extract: ExtractFn, ctx: RunContext) -> ExtractFn:
        def run(path: Path, settings: Settings):
            sha = ctx.sha_by_path.get(str(path)) or sha256_file(path)
            return extract_file_cached(path, settings, sha, quote(extract), name=Path(path).name[:100])
        return run

    def prefect_runner(items: list[WorkItem], ctx: RunContext, on_done: Callable[[dict], None]) -> None:
        # Bounded window of `workers` task runs: the concurrency limit that follows Settings,
        # whatever the task runner's own pool size.
        limit = files_in_flight(ctx)
        ctx.extract = cached(ctx.extract, ctx)
        pending: dict = {}
        queue = list(items)

        def collect_done(fut, it) -> None:
            try:
                outcome = fut.result()  # raises what the task raised after its last retry
            except Exception as exc:  # noqa: BLE001 - transient errors that outlasted retries, or our bugs
                outcome = finish_failed(it, exc, ctx)
            on_done(outcome)

        while queue or pending:
            while queue and len(pending) < limit:
                it = queue.pop(0)
                fut = ingest_file.submit(quote(it), quote(ctx), name=Path(it.origin).name[:100])
                pending[fut] = it
            first = next(iter(completed_futures(list(pending))))
            collect_done(first, pending.pop(first))

    def ingest_flow(paths: Optional[list[str]] = None, db: Optional[str] = None, inbox: Optional[str] = None,
                    workers: Optional[int] = None, progress: bool = True, archive: Optional[str] = None,
                    quarantine: Optional[str] = None, processing: Optional[str] = None) -> dict:
        """Ingest the inbox (no paths) or the given files/folders in place; returns the run summary.

        Folders left as None come from Settings (CONGVAN_* environment, else data/...).
        """
        settings = Settings()
        for key, value in (("db", db), ("inbox", inbox), ("archive", archive), ("quarantine", quarantine),
                           ("processing", processing)):
            if value:
                setattr(settings, key, Path(value))
        if workers:
            settings.workers = workers
        summary = run_ingest(paths, settings, progress=progress, runner=prefect_runner)
        return dict(summary)

    ingest_flow.__qualname__ = "ingest_flow"
    ingest_flow = flow(name="congvan-ingest", log_prints=False, validate_parameters=True)(ingest_flow)

    _FLOW = ingest_flow
    return _FLOW


def __getattr__(name: str):
    if name == "ingest_flow":
        return _build_flow()
    raise AttributeError(name)
