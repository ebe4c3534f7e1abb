"""Nothing done twice: per-page OCR results on disk, and the fingerprint of the code that makes records.

OCR is the cost of this pipeline (seconds a page; everything else is milliseconds), so a page
image is OCR'd once per OCR set-up: the result is kept under a key made of

* the rendered page image itself (mode, size and pixels, hashed), so a re-render that yields the
  same pixels hits and any change in rendering (dpi, flattening) misses;
* the language(s) asked for;
* the OCR code's fingerprint: the source of `pipeline/ocr.py` (preprocessing, psm, OSD rules,
  the fields of `OcrResult`), tesseract's version line and the size and time of each traineddata.

Post-correction, repair, extractors and the store are *not* in the key: changing them re-runs
only them. Entries are JSON files `<root>/<ab>/<key>.json`, written to a temporary name in the
same folder and renamed into place, so concurrent writers (threads, processes, machines sharing
the folder) never leave a torn entry: a reader sees a whole entry or none. A damaged entry is a
miss, never an error; a cache that cannot be written only logs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger(__name__)

# Bump when the entry layout changes.
FORMAT = 1
_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fingerprints
@lru_cache(maxsize=1)
def _tesseract_identity() -> tuple[str, str]:
    """(version line, tessdata folder) from the tesseract binary pytesseract will run."""
    try:
        import pytesseract

        cmd = pytesseract.pytesseract.tesseract_cmd
    except Exception:  # pytesseract missing: OCR would fail anyway
        cmd = "tesseract"
    version = tessdata = ""
    try:
        out = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=30)
        version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""
        langs = subprocess.run([cmd, "--list-langs"], capture_output=True, text=True, timeout=30)
        m = re.search(r'"([^"]+)"', (langs.stdout or "") + (langs.stderr or ""))
        tessdata = m.group(1) if m else ""
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot ask tesseract for its version (%s): OCR cache keys use its absence", exc)
    return version, os.environ.get("TESSDATA_PREFIX") or tessdata


def _traineddata_identity(lang: str, tessdata: str) -> list[str]:
    out = []
    for part in sorted(filter(None, lang.split("+"))):
        p = Path(tessdata) / f"{part}.traineddata"
        try:
            st = p.stat()
            out.append(f"{part}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            out.append(f"{part}:missing")
    return out


@lru_cache(maxsize=8)
def ocr_fingerprint(lang: str) -> str:
    """What besides the pixels decides tesseract's reading: our OCR code, tesseract, its models."""
    from congvan.pipeline import ocr

    h = hashlib.sha256(f"congvan-ocr-cache/{FORMAT}\n".encode())
    h.update(Path(ocr.__file__).read_bytes())
    # ocr_image arbitrates between readings with the post-correction LM (postcorrect.arbitrate_readings).
    # ... and reads again what the page layout left out (ocr_regions, judged with quality.is_syllable).
    here = Path(ocr.__file__).parent
    for dep in (here / "postcorrect.py", here / "data" / "postcorrect_lm.tsv", here / "ocr_regions.py",
                here / "quality.py"):
        h.update(dep.read_bytes() if dep.exists() else b"")
    version, tessdata = _tesseract_identity()
    h.update(version.encode())
    h.update(ocr.engine_version().encode())  # libtesseract, when pages are read in this process
    # The retries read with an extra model and orientation with osd: they decide the reading too.
    models = "+".join(filter(None, (lang, getattr(ocr, "EXTRA_MODEL", ""), "osd")))
    for item in _traineddata_identity(models, tessdata):
        h.update(item.encode())
    try:
        import pytesseract

        h.update(str(getattr(pytesseract, "__version__", "")).encode())
    except Exception:
        pass
    return h.hexdigest()


def _files_under(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                         and f.suffix in (".py", ".json", ".tsv", ".txt"))
    return sorted(files)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the code and rule tables that turn a file into a Record (acquisition, repair, OCR,
    extractors, the record schema), so a cached extraction is never reused after any of them
    changed, even when nobody remembered to bump `PIPELINE_VERSION`."""
    from congvan import PIPELINE_VERSION

    h = hashlib.sha256(f"congvan-record/{PIPELINE_VERSION}\n".encode())
    for f in _files_under([_ROOT / "pipeline", _ROOT / "extractors", _ROOT / "schemas" / "record.py"]):
        h.update(str(f.relative_to(_ROOT)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def extraction_key(sha256: str, settings) -> str:
    """Cache key of one file's extraction: its bytes, the pipeline version and code, and the
    settings that change what OCR reads (language, dpi). Limits are not in it: a file that hits
    a limit fails, and failures are never cached."""
    from congvan import PIPELINE_VERSION

    return (f"congvan-extract-{sha256.lower()}-{PIPELINE_VERSION}-{code_fingerprint()[:16]}"
            f"-{settings.ocr_lang}-{settings.ocr_dpi}dpi")


# --------------------------------------------------------------------------- the page cache
def image_digest(img) -> str:
    """sha256 of a PIL image's mode, size and pixels (not of any encoding of it)."""
    h = hashlib.sha256(f"{img.mode}:{img.size[0]}x{img.size[1]}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def bitmap_digest(bitmap) -> str:
    """sha256 of a pypdfium2 bitmap's pixels, read in place: a page's pixels are hashed without
    the copy `tobytes` makes of the PIL image (30-40 ms of a 300 dpi page). Rows are hashed
    without their stride padding, whose bytes nothing defines."""
    view = memoryview(bitmap.buffer).cast("B")
    row = bitmap.width * len(bitmap.mode)
    h = hashlib.sha256(f"pdfium:{bitmap.mode}:{bitmap.width}x{bitmap.height}:".encode())
    if bitmap.stride == row:
        h.update(view[:row * bitmap.height])
    else:
        for r in range(bitmap.height):
            h.update(view[r * bitmap.stride:r * bitmap.stride + row])
    return h.hexdigest()


class OcrCache:
    """OCR results by page image, under `root`. Thread- and process-safe (atomic renames)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def key(self, img, lang: str, digest: Optional[str] = None) -> str:
        """`digest`: the pixels' hash when the caller has a cheaper way to it (bitmap_digest)."""
        h = hashlib.sha256()
        h.update((digest or image_digest(img)).encode())
        h.update(f"\0{lang}\0".encode())
        h.update(ocr_fingerprint(lang).encode())
        return h.hexdigest()

    def _path(self, key: str, suffix: str = ".json") -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def _read(self, key: str, suffix: str, redo: str) -> Optional[dict]:
        """The entry written under `key`, or None (missing, damaged, or from an older layout)."""
        path = self._path(key, suffix)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("OCR cache entry %s unreadable (%s): %s", path, exc, redo)
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            return None
        return data

    def get(self, key: str):
        """The cached OcrResult, or None (missing, damaged, or from an older layout)."""
        from congvan.pipeline.ocr import OcrResult

        data = self._read(key, ".json", "OCR again")
        if data is None:
            return None
        names = {f.name for f in dataclasses.fields(OcrResult)}
        try:
            res = OcrResult(**{k: v for k, v in data.get("result", {}).items() if k in names})
        except TypeError:  # a field the entry lacks: an entry from other code
            return None
        return self._mark(res, key)

    def _mark(self, result, key: str):
        """The result remembers its entry, so the page's table reading can be kept beside it."""
        try:
            result._cache_entry = (self, key)
        except AttributeError:
            pass
        return result

    def put(self, key: str, result) -> Optional[Path]:
        """Store `result` (an OcrResult); returns the entry's path, or None when it could not be written."""
        self._mark(result, key)
        return self._write(self._path(key), {"format": FORMAT, "key": key, "result": dataclasses.asdict(result)})

    def _write(self, path: Path, entry: dict) -> Optional[Path]:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False, separators=(",", ":"), default=_plain)
            os.replace(tmp, path)
            return path
        except (OSError, TypeError, ValueError) as exc:
            log.warning("OCR cache: cannot write %s (%s); the page is read anyway", path, exc)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            return None

    # ---------------------------------------------------------------- ruled tables of a cached page
    def _tables_key(self, key: str) -> str:
        return hashlib.sha256(f"{key}\0tables\0{tables_fingerprint()}".encode()).hexdigest()

    def get_tables(self, key: str):
        """The page's table reading kept beside its OCR entry `key`: a TableReading, None (the page
        has no ruled table), or MISS."""
        from congvan.pipeline.ocr_tables import TableReading

        data = self._read(self._tables_key(key), ".tables.json", "tables read again")
        if data is None:
            return MISS
        t = data.get("tables")
        if t is None:
            return None
        try:
            spans = [[[tuple(sp) if sp is not None else None for sp in row] for row in table] for table in t["spans"]]
            return TableReading(t["text"], t["words"], t["tables"], spans)
        except (KeyError, TypeError):
            return MISS

    def put_tables(self, key: str, reading) -> Optional[Path]:
        tkey = self._tables_key(key)
        body = None if reading is None else {"text": reading.text, "words": reading.words,
                                             "tables": reading.tables, "spans": reading.spans}
        return self._write(self._path(tkey, ".tables.json"), {"format": FORMAT, "key": tkey, "tables": body})


MISS = object()


def _plain(o):
    """numpy scalars (grid positions from OpenCV's stats) as Python numbers for JSON."""
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


@lru_cache(maxsize=1)
def tables_fingerprint() -> str:
    """The code that reads ruled tables from a page and its OCR reading (pipeline/ocr_tables.py)."""
    from congvan.pipeline import ocr_tables

    return hashlib.sha256(Path(ocr_tables.__file__).read_bytes()).hexdigest()


def cached_tables(result):
    """The table reading kept for this OcrResult's cache entry, or MISS (not cached, or no entry)."""
    entry = getattr(result, "_cache_entry", None)
    if entry is None:
        return MISS
    cache, key = entry
    try:
        return cache.get_tables(key)
    except Exception as exc:  # noqa: BLE001 - the cache must never cost a page
        log.warning("OCR cache: tables of %s unreadable (%s)", key, exc)
        return MISS


def keep_tables(result, reading) -> None:
    entry = getattr(result, "_cache_entry", None)
    if entry is not None:
        try:
            entry[0].put_tables(entry[1], reading)
        except Exception as exc:  # noqa: BLE001
            log.warning("OCR cache: cannot keep the tables of %s (%s)", entry[1], exc)


_CACHES: dict[Path, OcrCache] = {}
_CACHES_LOCK = threading.Lock()


def page_cache(settings) -> Optional[OcrCache]:
    """The OCR cache for these settings, or None when caching is off."""
    root = settings.ocr_cache_dir
    if root is None:
        return None
    root = Path(root)
    with _CACHES_LOCK:
        cache = _CACHES.get(root)
        if cache is None:
            cache = _CACHES[root] = OcrCache(root)
        return cache
