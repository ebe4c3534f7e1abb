"""Plain data passed between stages: pages with their text, and the document they make."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Optional

PAGE_SEPARATOR = "\n\n"


@dataclass
class Page:
    """One page's text and how it was obtained.

    `source` is "text_layer" (used as is), "repaired_layer" (a legacy-font layer
    decoded) or "ocr"; `reason` says why that decision was taken; `original`
    keeps the text before repair so nothing is lost.
    """

    number: int  # 1-based
    text: str
    source: str
    reason: str
    original: str = ""
    ocr_confidence: Optional[float] = None
    # Tables found on the page (pdfplumber extract_tables): rows of cell strings.
    tables: list[list[list[Optional[str]]]] = field(default_factory=list)


@dataclass
class Document:
    """The pages of one file joined into one text, with a map from offsets back to pages."""

    path: str
    sha256: str
    pages: list[Page]
    text: str = ""
    page_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.text and self.pages:
            parts, starts, pos = [], [], 0
            for p in self.pages:
                starts.append(pos)
                parts.append(p.text)
                pos += len(p.text) + len(PAGE_SEPARATOR)
            self.text = PAGE_SEPARATOR.join(parts)
            self.page_starts = starts

    def page_at(self, offset: int) -> int:
        """1-based page number holding character `offset` of `text`."""
        if not self.page_starts:
            return 1
        return max(1, bisect.bisect_right(self.page_starts, offset))

    @property
    def text_source(self) -> str:
        kinds = {"ocr" if p.source == "ocr" else "text_layer" for p in self.pages}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "text_layer")

    @classmethod
    def from_text(cls, text: str, path: str = "<text>", sha256: str = "") -> "Document":
        """A one-page document from plain text: for tests and for extracting from .txt seeds."""
        return cls(path=path, sha256=sha256, pages=[Page(1, text, "text_layer", "plain text")])
