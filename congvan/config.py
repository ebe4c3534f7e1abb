"""Defaults from ../shared/CONTRACT.md, each overridable by environment variable and by CLI flag."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def _env_num(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass
class Settings:
    db: Path = field(default_factory=lambda: _env_path("CONGVAN_DB", "data/congvan.duckdb"))
    inbox: Path = field(default_factory=lambda: _env_path("CONGVAN_INBOX", "data/inbox"))
    archive: Path = field(default_factory=lambda: _env_path("CONGVAN_ARCHIVE", "data/archive"))
    quarantine: Path = field(default_factory=lambda: _env_path("CONGVAN_QUARANTINE", "data/quarantine"))
    processing: Path = field(default_factory=lambda: _env_path("CONGVAN_PROCESSING", "data/processing"))
    # A file is claimed only once its size and mtime have not changed for this long.
    settle_seconds: float = field(default_factory=lambda: _env_num("CONGVAN_SETTLE_SECONDS", 2.0))
    max_pages: int = field(default_factory=lambda: int(_env_num("CONGVAN_MAX_PAGES", 200)))
    max_pixels: int = field(default_factory=lambda: int(_env_num("CONGVAN_MAX_PIXELS", 120_000_000)))
    ocr_timeout: float = field(default_factory=lambda: _env_num("CONGVAN_OCR_TIMEOUT", 120.0))
    ocr_dpi: int = field(default_factory=lambda: int(_env_num("CONGVAN_OCR_DPI", 300)))
    ocr_lang: str = field(default_factory=lambda: os.environ.get("CONGVAN_OCR_LANG", "vie"))
    workers: int = field(default_factory=lambda: int(_env_num("CONGVAN_WORKERS", os.cpu_count() or 1)))
    # How long sql/search/export wait for ingestion to release the database.
    db_wait_seconds: float = field(default_factory=lambda: _env_num("CONGVAN_DB_WAIT", 30.0))
    # Per-page OCR cache (pipeline/cache.py): "" = `cache/ocr/` beside the database, "off" = none, else a folder.
    ocr_cache: str = field(default_factory=lambda: os.environ.get("CONGVAN_OCR_CACHE", ""))
    # Prefect keeps each file's extraction (keyed by sha256 + pipeline version) this many days.
    task_cache_days: float = field(default_factory=lambda: _env_num("CONGVAN_TASK_CACHE_DAYS", 30.0))

    @property
    def ocr_cache_dir(self) -> Optional[Path]:
        """Where page OCR results are kept, or None when the cache is off. Beside the database by
        default, so a test or a run with its own database never shares another's cache."""
        value = str(self.ocr_cache).strip()
        if value.lower() in ("off", "none", "0", "false", "no"):
            return None
        return Path(value) if value else Path(self.db).parent / "cache" / "ocr"
