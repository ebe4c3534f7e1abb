"""Tesseract slots shared by the extraction processes (pipeline/pool.py).

In one process the page pool already bounds OCR to `workers` pages at once. With several
extraction processes each has such a pool, so a semaphore made by the parent bounds the
tesseract runs of all of them together: one per core, as OMP_THREAD_LIMIT=1 assumes.
Without an installed semaphore (a single process) `ocr_slot()` costs nothing.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

_SLOTS = None


def install(slots) -> None:
    """Called in each worker process with the parent's semaphore."""
    global _SLOTS
    _SLOTS = slots


@contextlib.contextmanager
def ocr_slot() -> Iterator[None]:
    slots = _SLOTS
    if slots is None:
        yield
        return
    slots.acquire()
    try:
        yield
    finally:
        slots.release()
