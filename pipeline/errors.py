"""Errors that name the stage that failed, so a quarantined file says why in plain words."""
from __future__ import annotations


class CongvanError(Exception):
    """Base error; `stage` is where in file → pages → text → record → DuckDB it happened."""

    stage = "pipeline"

    def __init__(self, message: str, *, stage: str | None = None):
        super().__init__(message)
        if stage:
            self.stage = stage


class UnsupportedInput(CongvanError):
    """Not a PDF or a scan image (PNG/JPEG/TIFF), whatever its extension says."""

    stage = "open"


class CorruptInput(CongvanError):
    """A PDF or image that cannot be opened or read (truncated, broken xref, empty)."""

    stage = "open"


class EncryptedInput(CongvanError):
    """A password-protected PDF: we never guess passwords."""

    stage = "open"


class LimitExceeded(CongvanError):
    """A configured limit was hit (pages, pixels, OCR time); the message names the limit."""

    stage = "acquire"


class DatabaseBusy(CongvanError):
    """Another process holds the DuckDB file for longer than we agreed to wait."""

    stage = "store"


class ArchiveFailed(CongvanError):
    """The record was saved but the file could not be moved into the archive (disk full,
    permissions): not the file's fault, so it goes back to the inbox, never to quarantine."""

    stage = "archive"
