"""pdfplumber pages whose glyph dicts are built without pdfplumber's generic per-attribute walk.

pdfplumber turns every pdfminer object into a dict through `Page.process_object`, which filters
each attribute by name and runs `resolve_all` on it: for a glyph that is ~17 recursive calls for
values that are plain floats and strings, about 60 % of a born-digital page's parse time (pdfminer's
own content parsing is the rest). `LeanPage.process_object` builds the dict of an `LTChar` with the
same keys, in the same order, and the same values as pdfplumber's, taking plain values as they are;
every other object (lines, rects, images, curves) and any value that is not plain goes through
pdfplumber's own code. Bound to the pdfplumber version it was checked against: under any other
version pages are left as pdfplumber made them (tests/test_acquire_speed.py compares every object
dict of the sample and real-world PDFs).
"""
from __future__ import annotations

import logging
from typing import Any

import pdfplumber
from pdfminer.layout import LTChar
from pdfplumber.page import ALL_ATTRS, Page, fix_fontname_bytes
from pdfplumber.utils import resolve_all, resolve_and_decode

log = logging.getLogger("congvan.acquire")

CHECKED_VERSION = "0.11.10"
ENABLED = pdfplumber.__version__ == CHECKED_VERSION

_PLAIN = frozenset({float, int, bool, str, type(None)})  # what resolve_all returns unchanged
_COLOR_SPACE_NAMES: dict[str, Any] = {}  # PDFColorSpace.name → its decoded form (pure function)


class LeanPage(Page):
    """A pdfplumber Page with a fast path for glyphs in `process_object` (see the module doc),
    whose objects PLAYA reads when the page has a PLAYA twin (pipeline/playaobjects.py)."""

    _playa = None  # the same page in a PLAYA document, set by make_lean

    def parse_objects(self):  # type: ignore[override]
        twin = self._playa
        if twin is not None:
            from congvan.pipeline import playaobjects

            try:
                return playaobjects.page_objects(self, twin)
            except playaobjects.NotMapped as exc:
                log.debug("page %d read by pdfminer: %s", self.page_number, exc)
        return super().parse_objects()

    def process_object(self, obj, _attrs=ALL_ATTRS, _plain=_PLAIN, _all_plain=_PLAIN.issuperset):  # type: ignore[override]
        if type(obj) is not LTChar:
            return super().process_object(obj)
        attr = {}
        for k, v in obj.__dict__.items():
            if k in _attrs:
                t = type(v)
                # resolve_all returns a plain value as is, and an equal new tuple for a tuple of
                # plain values (the matrix): an immutable tuple can as well be shared
                if t in _plain or (t is tuple and _all_plain(map(type, v))):
                    attr[k] = v
                else:
                    attr[k] = resolve_all(v)
        attr["object_type"] = "char"
        attr["page_number"] = self.page_number
        ncs = obj.ncs.name
        decoded = _COLOR_SPACE_NAMES.get(ncs) if type(ncs) is str else None
        if decoded is None:
            decoded = resolve_and_decode(ncs)
            if type(ncs) is str and type(decoded) is str:
                _COLOR_SPACE_NAMES[ncs] = decoded
        attr["ncs"] = decoded
        if hasattr(obj, "scs"):  # pdfminer sets no scs on glyphs today; pdfplumber would read it
            attr["scs"] = resolve_and_decode(obj.scs.name)
        text = obj._text  # what LTChar.get_text returns (the type is exactly LTChar)
        norm = self.pdf.unicode_norm
        attr["text"] = text if norm is None else _normalize(norm, text)
        gs = obj.graphicstate
        attr["stroking_color"] = gs.scolor if isinstance(gs.scolor, tuple) else (gs.scolor,)
        attr["non_stroking_color"] = gs.ncolor if isinstance(gs.ncolor, tuple) else (gs.ncolor,)
        if isinstance(attr["fontname"], bytes):
            attr["fontname"] = fix_fontname_bytes(attr["fontname"])
        mb_x0, mb_top = self.mediabox[:2]
        if "y0" in attr:
            bbox = self.bbox
            height = bbox[3] - bbox[1]  # Page.height
            attr["top"] = top = (height - attr["y1"]) + mb_top
            attr["bottom"] = (height - attr["y0"]) + mb_top
            attr["doctop"] = self.initial_doctop + top
        if "x0" in attr and mb_x0 != 0:
            attr["x0"] = attr["x0"] + mb_x0
            attr["x1"] = attr["x1"] + mb_x0
        return attr


def _normalize(form: str, text: str) -> str:
    from unicodedata import normalize

    return normalize(form, text)


def make_lean(pdf, source=None) -> None:
    """Give every page of an open pdfplumber PDF the fast paths, when the versions match:
    objects read by PLAYA from `source` (the path or buffer pdfplumber opened), else glyph
    dicts built lean from pdfminer's. Call before any page's objects are read (they are parsed
    once and cached)."""
    if not ENABLED:
        return
    twins = None
    if source is not None:
        from congvan.pipeline import playaobjects

        doc = playaobjects.open_document(source)
        if doc is not None:
            pdf._playa_document = doc  # PLAYA pages hold their document weakly: keep it alive with the PDF
            try:
                twins = list(doc.pages)
            except Exception:  # noqa: BLE001 - a page tree PLAYA cannot walk: pdfminer reads it
                twins = None
            if twins is not None and len(twins) != len(pdf.pages):
                twins = None
    for i, page in enumerate(pdf.pages):
        if type(page) is Page:
            page.__class__ = LeanPage
            if twins is not None:
                page._playa = twins[i]
