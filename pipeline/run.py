"""File → Record without any orchestrator: what `congvan extract` runs and what the flow wraps."""
from __future__ import annotations

from pathlib import Path

from congvan import PIPELINE_VERSION
from congvan.config import Settings
from congvan.pipeline.document import Document
from congvan.pipeline.errors import CongvanError
from congvan.schemas.record import PageInfo, Record, Source


def build_record(doc: Document) -> Record:
    """Run every extractor over an acquired document and assemble the contract record."""
    from congvan.extractors import extract_fields

    try:
        fields = extract_fields(doc)
    except CongvanError:
        raise
    except Exception as exc:  # an extractor bug must not look like a bad input file
        raise CongvanError(f"extraction failed: {type(exc).__name__}: {exc}", stage="extract") from exc
    pages = [
        PageInfo(
            number=p.number,
            text_source=p.source,
            reason=p.reason,
            chars=len(p.text),
            ocr_confidence=p.ocr_confidence,
            start=doc.page_starts[i] if i < len(doc.page_starts) else 0,
        )
        for i, p in enumerate(doc.pages)
    ]
    source = Source(path=doc.path, sha256=doc.sha256, pages=len(doc.pages), text_source=doc.text_source)
    return Record(source=source, text=doc.text, pages=pages, pipeline_version=PIPELINE_VERSION, **fields)


def extract_file(path: Path | str, settings: Settings | None = None) -> Record:
    """Acquire the pages of one file (text layer, repair or OCR) and extract its record."""
    from congvan.pipeline.acquire import acquire

    doc = acquire(Path(path), settings or Settings())
    return build_record(doc)
