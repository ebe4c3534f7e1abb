"""Extraction in worker processes, one file per process at a time.

Why processes: parsing a text layer (pdfminer) and the extractors are pure Python, so ingestion
threads share one core under the GIL and a folder of born-digital PDFs used half the machine.
OCR was already parallel (tesseract runs in its own process), so the processes share
`workers` tesseract slots (pipeline/limits.py): a single long scan still has every core for its
pages, and several scans never run more than `workers` tesseracts at once.

Also a fault boundary: a crash inside a native library (pdfium, tesseract's loader, a
decompression bomb that slips past the limits) kills one worker, not the run. The file that was
in it is retried alone in a fresh process; if that one dies too the file is the cause and is
quarantined with the signal named, and the other files in flight carry on.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Optional

from congvan.config import Settings
from congvan.pipeline.errors import CongvanError, CorruptInput

log = logging.getLogger("congvan.pool")

_LOCK = threading.Lock()
_POOL: Optional[ProcessPoolExecutor] = None
_POOL_WORKERS = 0
_SLOTS = None
_UNAVAILABLE = False  # set once a fresh worker could not even start


def _init_child(slots) -> None:
    from congvan.pipeline import limits, ocr

    limits.install(slots)
    ocr.read_in_this_process()  # libtesseract in this process: a crash in it ends this worker only
    # The fork server's preload, for spawned workers too (already loaded in a forked one): the
    # readers load while the parent is still claiming and hashing files.
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


def _portable(exc: BaseException) -> BaseException:
    """The exception as the parent will see it: itself when it survives pickling (our errors do,
    `stage` included), else a CongvanError naming it, so a library's odd exception class cannot
    break the pool's result channel."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return CongvanError(f"{type(exc).__name__}: {exc}", stage=getattr(exc, "stage", None) or "extract")


def _extract_in_child(path: str, settings: Settings):
    from congvan.pipeline.run import extract_file

    try:
        return extract_file(Path(path), settings)
    except Exception as exc:  # noqa: BLE001 - re-raised as it is, when it can travel
        portable = _portable(exc)
        if portable is exc:
            raise
        raise portable from None


# What every worker needs, imported (and warmed: pipeline/warm.py) once in the fork server rather
# than once per worker.
PRELOAD = ["congvan.pipeline.warm"]


def _context():
    """forkserver where there is one (Linux), else spawn. Not fork: the parent runs threads
    (ingestion, Prefect, DuckDB) whose locks a forked child would inherit held. The fork server is
    a fresh single-threaded process that imports the pipeline once (PRELOAD) and forks each
    worker from itself, so two workers cost one import, not two, and a replacement worker
    starts at once."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _new_pool(workers: int, slots) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_child, initargs=(slots,))


def _pool(workers: int) -> ProcessPoolExecutor:
    global _POOL, _POOL_WORKERS, _SLOTS
    with _LOCK:
        if _POOL is None or _POOL_WORKERS != workers:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=False)
            _SLOTS = _context().BoundedSemaphore(workers)
            _POOL, _POOL_WORKERS = _new_pool(workers, _SLOTS), workers
        return _POOL


def _replace_broken(broken: ProcessPoolExecutor) -> None:
    global _POOL
    with _LOCK:
        if _POOL is broken:
            _POOL = _new_pool(_POOL_WORKERS, _SLOTS)


def start(workers: int) -> bool:
    """Start the workers early (they import the pipeline while the run hashes and claims).
    False when processes cannot be made here: the run then reads files in its own process."""
    try:
        _pool(workers)
        _start_fork_server()
        return True
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("extraction stays in this process: worker processes unavailable (%s)", exc)
        return False


def shutdown() -> None:
    """Stop the workers and the fork server. Stopping the server too means its CPU time, its
    workers' and their tesseracts' is accounted to this process (RUSAGE_CHILDREN) when the run
    ends, as it was with spawned workers; the next run starts a fresh server."""
    global _POOL
    with _LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
            _POOL = None
            _stop_fork_server()


def shutdown_soon() -> None:
    """shutdown() in the background: a run's caller has its summary ~0.1 s sooner, and the
    workers still exit and are reaped before the process does (the thread is not a daemon);
    a new run's start() waits for it (the pool lock)."""
    threading.Thread(target=shutdown, name="congvan-pool-shutdown").start()


def _start_fork_server() -> None:
    """Launch the fork server now, so its imports and warm-up (~0.5 s) run beside the run's own
    start (store, hashes, claims) instead of after it: the executor starts processes only at the
    first submit, and the server only with the first process."""
    if _context().get_start_method() != "forkserver":
        return
    try:
        from multiprocessing import forkserver

        forkserver.ensure_running()  # spawns the server and hands it PRELOAD; does not wait for it
    except Exception as exc:  # noqa: BLE001 - the first submit starts it as before
        log.debug("fork server not started early: %s", exc)


def _stop_fork_server() -> None:
    try:
        from multiprocessing import forkserver

        stop = getattr(forkserver._forkserver, "_stop", None)  # CPython 3.9+: stops and reaps it
        if stop is not None:
            stop()
    except Exception as exc:  # noqa: BLE001 - a server left running only costs its memory
        log.debug("fork server not stopped: %s", exc)


atexit.register(shutdown)


def extract(path: Path, settings: Settings, *, fn=None):
    """extract_file(path, settings) in a worker process; same result, same exceptions.
    `fn(path: str, settings)`, a module-level function, replaces extract_file (tests)."""
    fn = fn or _extract_in_child
    if _UNAVAILABLE:
        return _in_this_process(path, settings)
    workers = max(1, int(settings.workers))
    pool = _pool(workers)
    try:
        return pool.submit(fn, str(path), settings).result()
    except BrokenProcessPool:
        _replace_broken(pool)
    # A worker died with this file (or another file) in it: read this one alone to tell.
    log.warning("%s: a worker process died; reading the file again in a process of its own", path)
    ok, value, code = _run_alone(fn, str(path), settings)
    if ok is True:
        return value
    if ok is False:
        raise value
    if not _processes_work():
        # Not the file: worker processes cannot run here (limits, no /dev/shm, a __main__ that
        # cannot be re-imported); every later file is read in this process without trying again.
        _mark_unavailable()
        log.warning("worker processes cannot start here: reading %s in this process", path)
        return _in_this_process(path, settings)
    raise CorruptInput(f"{Path(path).name} crashed the reader process ({code}): not processed further",
                       stage="extract")


def _in_this_process(path: Path, settings: Settings):
    from congvan.pipeline.run import extract_file

    return extract_file(Path(path), settings)


def _alone_child(conn, fn, path: str, settings: Settings, slots) -> None:
    _init_child(slots)
    try:
        conn.send((True, fn(path, settings)))
    except BaseException as exc:  # noqa: BLE001 - sent back to be raised in the parent
        conn.send((False, _portable(exc)))
    finally:
        conn.close()


def _run_alone(fn, path: str, settings: Settings):
    """(True, record, ""), (False, exception, "") or (None, None, how the process ended)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_alone_child, args=(send, fn, path, settings, _SLOTS), daemon=True)
    proc.start()
    send.close()
    try:
        ok, value = receive.recv()
    except EOFError:
        ok, value = None, None
    finally:
        receive.close()
    proc.join()
    return ok, value, _how_it_ended(proc.exitcode)


def _how_it_ended(code: Optional[int]) -> str:
    import signal

    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _mark_unavailable() -> None:
    global _UNAVAILABLE
    _UNAVAILABLE = True


def _noop() -> bool:
    return True


def _processes_work() -> bool:
    """Can a fresh worker start and answer? Tells a file that kills its reader from a machine
    where workers cannot run at all."""
    ctx = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_child, initargs=(None,)) as p:
            return p.submit(_noop).result(timeout=120)
    except Exception:  # noqa: BLE001 - any failure means no
        return False


def wanted(settings: Settings, files: int) -> bool:
    """Worth starting processes: several files to read on several cores (CONGVAN_PROCESSES=0
    turns it off, e.g. where processes are not allowed)."""
    if _UNAVAILABLE or os.environ.get("CONGVAN_PROCESSES", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return int(settings.workers) > 1 and files > 1
