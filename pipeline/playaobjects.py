"""pdfplumber's page objects, read by PLAYA instead of pdfminer's content-stream interpreter.

Why: on born-digital dispatches pdfminer's pure-Python interpreter was about half of all the
work (parse the content stream, build an LTChar, then a dict, per glyph). PLAYA (playa-pdf, MIT,
derived from pdfminer.six) interprets the same streams lazily and several times faster, and
its `playa.miner` module already reproduces pdfminer's glyph boxes ("bogus bboxes" included).
Here each PLAYA object becomes the dict pdfplumber would have made from pdfminer's, with the
same keys in the same order and the same values (coordinates to ~1e-15: PLAYA multiplies in
another order; `linewidth` where a page never sets one is PDF's default 1.0, pdfminer's 0), so
tables, words and everything downstream are unchanged.

The dicts are checked against pdfplumber's own on every sample and real-world PDF, and the pages
acquire() makes from them against pdfminer's (tests/test_acquire_speed.py). A page PLAYA cannot
read, or reads into something mapped differently (a simple-font glyph without a width: PLAYA
assumes 1000 units, pdfminer 0; a pattern colour; vertical writing; zero-size text), raises
`NotMapped`; the caller then lets pdfminer read that page as before. Marked-content ids (`mcid`, `tag`) follow the innermost open
marked-content section, which is what pdfplumber records except after a nested section closes;
nothing here reads them.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Optional, Union

import playa
from playa import miner as _pm
from playa.font import SimpleFont
from playa.content import ImageObject, PathObject, TextObject, XObjectObject
from playa.utils import mult_matrix, transform_bbox, translate_matrix

# PLAYA logs what it tolerates in a malformed file ("Subtype mapping not a dict"); the page is
# read all the same, or by pdfminer when it cannot be: not a user's concern
logging.getLogger("playa").setLevel(logging.ERROR)

CHECKED_VERSION = "1.1.0"
ENABLED = playa.__version__ == CHECKED_VERSION


class NotMapped(Exception):
    """Something on the page has no pdfminer-equivalent dict here: read it with pdfminer."""


def open_document(source: Union[str, Path, io.BytesIO, bytes]):
    """A PLAYA document over the same bytes pdfplumber opened, in pdfminer's coordinates
    (space="page"), or None when PLAYA cannot open it (pdfminer then reads every page)."""
    if not ENABLED:
        return None
    try:
        if isinstance(source, io.BytesIO):
            return playa.parse(source.getvalue(), space="page")
        if isinstance(source, (bytes, bytearray)):
            return playa.parse(bytes(source), space="page")
        return playa.parse(Path(source).read_bytes(), space="page")
    except Exception:  # noqa: BLE001 - any failure: pdfminer reads the file as before
        return None


def _color(c) -> Any:
    """pdfminer's form of a colour: a bare number for one component, else a tuple."""
    if c.pattern is not None:
        raise NotMapped("pattern colour")
    v = c.values
    return v[0] if len(v) == 1 else v


def _image_attr(stream, short: str, name: str):
    """The image dictionary's own entry, as pdfminer reads it (None when absent)."""
    attrs = getattr(stream, "attrs", None) or {}
    return attrs.get(short, attrs.get(name))


def _pdfminer_value(v):
    from pdfminer.psparser import LIT
    from playa.pdftypes import PSLiteral

    return LIT(v.name) if isinstance(v, PSLiteral) else v


def _colorspace(v):
    """pdfminer's form: a list, of its own name objects where the entry is a plain name."""
    if isinstance(v, list):
        return [_pdfminer_value(x) for x in v]
    return [_pdfminer_value(v)]


def _mark(mcstack) -> tuple[Optional[int], Optional[str]]:
    if not mcstack:
        return None, None
    top = mcstack[-1]
    return top.mcid, top.tag


def page_objects(plumber_page, ppage) -> dict[str, list[dict]]:
    """{kind: [object dict]} for one page, as pdfplumber's `Page.parse_objects` gives them."""
    height = plumber_page.height
    mb_x0, mb_top = plumber_page.mediabox[:2]
    doctop0 = plumber_page.initial_doctop
    page_number = plumber_page.page_number
    norm = plumber_page.pdf.unicode_norm
    point2coord = plumber_page.point2coord
    chars: list[dict] = []
    objects: dict[str, list[dict]] = {}
    defaults: dict[int, Optional[float]] = {}
    widths: dict[int, dict[int, float]] = {}  # id(font) → {cid: hdisp(cid)}: a font's widths are fixed

    def default_width_of(font) -> Optional[float]:
        """The width PLAYA falls back to where pdfminer's would differ, else None."""
        k = id(font)
        if k not in defaults:
            desc = getattr(font, "descriptor", None) or {}
            dw = getattr(font, "default_width", None)
            # CID fonts default to /DW (1000) in both readers; simple fonts differ
            missing = not isinstance(font, SimpleFont) or "MissingWidth" in desc or not dw
            defaults[k] = None if missing else font.matrix[0] * dw
        return defaults[k]

    def place(attr: dict) -> None:
        attr["top"] = top = (height - attr["y1"]) + mb_top
        attr["bottom"] = (height - attr["y0"]) + mb_top
        attr["doctop"] = doctop0 + top
        if mb_x0 != 0:
            attr["x0"] += mb_x0
            attr["x1"] += mb_x0

    def text_chars(tobj) -> None:
        """The glyphs of one text object: its graphics state, font and marks are shared, so
        what follows from them is worked out once, not per glyph."""
        gstate = tobj.gstate
        font = gstate.font
        if font is None:
            return
        if font.vertical:
            raise NotMapped("vertical writing")
        scolor, ncolor = gstate.scolor, gstate.ncolor
        if scolor.pattern is not None or ncolor.pattern is not None:
            raise NotMapped("pattern colour")
        scaling = gstate.scaling * 0.01
        fontsize = gstate.fontsize
        if fontsize == 0.0 or scaling == 0.0:
            raise NotMapped("text of size 0")
        xscale, yscale = 1 / (fontsize * scaling), 1 / fontsize
        hdisp = font.hdisp
        width_of = widths.setdefault(id(font), {})
        missing = default_width_of(font)
        descent = font.descent * font.matrix[3]
        top_y = descent + 1
        adv_scale = fontsize * scaling
        fontname = font.fontname
        if isinstance(fontname, bytes):
            from pdfplumber.page import fix_fontname_bytes

            fontname = fix_fontname_bytes(fontname)
        mcid, tag = _mark(tobj.mcstack)
        ncs = gstate.ncs.name
        svals, nvals = scolor.values, ncolor.values
        append = chars.append
        # PLAYA's own glyph walk (TextObject.__iter__ of the pinned version), without building
        # a GlyphObject per glyph: same offsets, same matrices, same arithmetic
        if fontsize == 0.0:
            raise NotMapped("text of size 0")
        charspace = gstate.charspace / fontsize
        wordspace = 0.0 if font.multibyte else gstate.wordspace / fontsize
        tlm_ctm = mult_matrix(tobj.line_matrix, tobj.ctm)
        scaling_matrix = (fontsize * scaling, 0, 0, fontsize, 0, gstate.rise)
        # A glyph's matrix differs from the next one's by its translation only: the linear part, and
        # what follows from it, is worked out once per text object (mult_matrix's first four terms
        # read the linear parts alone, so they are the very numbers each glyph's matrix would hold)
        a, b, c, d, _, _ = mult_matrix(scaling_matrix, tlm_ctm)
        linear = (a * xscale, b * yscale, c * xscale, d * yscale)
        upright = a * d * scaling > 0 and b * c <= 0
        x, y = tobj._glyph_offset
        pos = x
        decode = font.decode
        for arg in tobj.args:
            if isinstance(arg, (int, float)):
                pos -= arg * 0.001 * fontsize * scaling
                continue
            for cid, text in decode(arg):
                if not chars:  # kinds in order of first appearance, as pdfplumber lists them
                    objects["char"] = chars
                if text is None:
                    text = "(cid:%d)" % cid
                elif norm is not None:
                    from unicodedata import normalize

                    text = normalize(norm, text)
                matrix = mult_matrix(scaling_matrix, translate_matrix(tlm_ctm, (pos, y)))
                textwidth = width_of.get(cid)
                if textwidth is None:
                    textwidth = width_of[cid] = hdisp(cid)
                if textwidth == missing:
                    # PLAYA gives a glyph the font has no width for 1000 units, pdfminer (and the
                    # PDF spec's MissingWidth) 0: the glyphs after it would sit elsewhere
                    raise NotMapped("a glyph without a width")
                disp = textwidth + charspace
                if cid == 32:
                    disp += wordspace
                pos += disp * fontsize * scaling
                x0, y0, x1, y1 = transform_bbox(matrix, (0, descent, textwidth, top_y))
                top = (height - y1) + mb_top
                if mb_x0 != 0:
                    x0 += mb_x0
                    x1 += mb_x0
                append({
                    "matrix": linear + matrix[4:],
                    "fontname": fontname,
                    "adv": textwidth * adv_scale,
                    "upright": upright,
                    "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                    "width": x1 - x0, "height": y1 - y0, "size": y1 - y0,
                    "mcid": mcid, "tag": tag,
                    "object_type": "char", "page_number": page_number,
                    "ncs": ncs,
                    "text": text,
                    "stroking_color": svals,
                    "non_stroking_color": nvals,
                    "top": top, "bottom": (height - y0) + mb_top, "doctop": doctop0 + top,
                })
        if tobj._next_glyph_offset is None:  # where the next text object starts, as __iter__ leaves it
            tobj._next_glyph_offset = (pos, y)

    def lt_dict(obj) -> dict:
        """A playa.miner LT object (line, rect, curve, image) as pdfplumber's process_object."""
        kind = type(obj).__name__[2:].lower()
        if kind == "image":
            attr = {"x0": obj.x0, "y0": obj.y0, "x1": obj.x1, "y1": obj.y1, "width": obj.width,
                    "height": obj.height, "name": obj.name, "stream": obj.stream, "srcsize": obj.srcsize,
                    "imagemask": _image_attr(obj.stream, "IM", "ImageMask"), "bits": obj.bits,
                    "colorspace": _colorspace(_image_attr(obj.stream, "CS", "ColorSpace"))}
        else:
            attr = {"x0": obj.x0, "y0": obj.y0, "x1": obj.x1, "y1": obj.y1, "width": obj.width,
                    "height": obj.height, "pts": [point2coord(p) for p in obj.pts], "linewidth": obj.linewidth,
                    "stroke": obj.stroke, "fill": obj.fill, "evenodd": obj.evenodd,
                    "stroking_color": _color(obj.stroking_color),
                    "non_stroking_color": _color(obj.non_stroking_color)}
        attr["mcid"], attr["tag"] = _mark(obj.mcstack)
        attr["object_type"] = kind
        attr["page_number"] = page_number
        if kind != "image":
            attr["path"] = [(cmd, *map(point2coord, pts)) for cmd, *pts in obj.original_path]
            dash = obj.dashing_style
            attr["dash"] = None if dash is None or not dash.dash else (list(dash.dash), dash.phase)
        place(attr)
        return attr

    def add_lt(obj) -> None:
        if isinstance(obj, _pm.LTContainer):  # a figure: its children, as pdfplumber walks them
            for child in obj:
                add_lt(child)
        else:
            d = lt_dict(obj)
            objects.setdefault(d["object_type"], []).append(d)

    def walk(obj) -> None:
        if isinstance(obj, TextObject):
            text_chars(obj)
        elif isinstance(obj, XObjectObject):
            for child in obj:
                walk(child)
        elif isinstance(obj, (PathObject, ImageObject)):
            for lt in _pm.process_object(obj):
                add_lt(lt)

    try:
        for obj in ppage:
            walk(obj)
    except NotMapped:
        raise
    except Exception as exc:  # noqa: BLE001 - PLAYA's own failures: pdfminer reads the page
        raise NotMapped(f"{type(exc).__name__}: {exc}") from exc
    return objects
