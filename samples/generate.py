"""Make congvan's sample dispatches from the clean sources in samples/source/.

Run:  .venv/bin/python samples/generate.py   (or `make samples`)

For every seed NNN it writes, flat into samples/:
  NNN-text.pdf      born-digital, laid out per Nghị định 30/2020/NĐ-CP
  NNN-garbled.pdf   same pages, but the fonts' ToUnicode CMaps map ư/ơ/Ư/Ơ/“/” to
                    °/¡/¯/¢/</= (how legacy-font PDFs really break)
  NNN-scan.pdf      image-only mild scan (200 dpi, skew, noise, blur, JPEG)
plus 004-harsh.pdf (harsh scan with red stamp and signature), 002-scan-p1.png,
003-scan.tiff, and a ground-truth <sample-stem>.gt.txt beside each sample.

Everything random comes from seeded numpy generators and reportlab runs with
invariant=1, so a rerun gives byte-identical files.
"""
from __future__ import annotations

import io
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from reportlab import rl_config
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

rl_config.invariant = 1

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "source"
SEEDS = ["000", "001", "002", "003", "004"]
PAGE_W, PAGE_H = A4
# Nghị định 30/2020, Phụ lục I: lề trên/dưới 20-25 mm, trái 30-35 mm, phải 15-20 mm.
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 30 * mm, 20 * mm, 20 * mm, 20 * mm
TEXT_W = PAGE_W - MARGIN_L - MARGIN_R

FONT_DIR = Path("/usr/share/fonts/truetype/liberation2")
FONTS = {"R": "LiberationSerif-Regular.ttf", "B": "LiberationSerif-Bold.ttf",
         "I": "LiberationSerif-Italic.ttf", "BI": "LiberationSerif-BoldItalic.ttf"}
STAMP_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

# Legacy-font breakage as seen in seed 000 (TCVN3/VNI fonts exported without proper
# ToUnicode): only the bare horned letters and the curly quotes come out wrong.
GARBLE = {"ư": "°", "ơ": "¡", "Ư": "¯", "Ơ": "¢", "“": "<", "”": "="}


def register_fonts() -> None:
    for key, fname in FONTS.items():
        name = "LS-" + key
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / fname)))


# --------------------------------------------------------------------------- source

@dataclass
class Source:
    """One dispatch, split into the parts a real công văn prints in fixed places."""
    seed: str
    parts: dict[str, list[str]] = field(default_factory=dict)

    def get(self, key: str) -> list[str]:
        return self.parts.get(key, [])


def read_source(seed: str) -> Source:
    """Parse samples/source/NNN.txt: `[part]` lines open a part, every other line belongs to it."""
    text = unicodedata.normalize("NFC", (SOURCE / f"{seed}.txt").read_text(encoding="utf-8"))
    src, cur = Source(seed), None
    for line in text.split("\n"):
        m = re.fullmatch(r"\[(\w+)\]", line.strip())
        if m:
            cur = m.group(1)
            src.parts[cur] = []
        elif cur is not None:
            src.parts[cur].append(line.rstrip())
    for k, v in src.parts.items():  # drop trailing/leading blank lines, keep inner ones (signature gap)
        while v and not v[-1].strip():
            v.pop()
        while v and not v[0].strip():
            v.pop(0)
    return src


# --------------------------------------------------------------------------- ground-truth recorder

class Recorder:
    """Collects (page, text line) as flowables are drawn, so the ground truth follows the real page breaks."""

    def __init__(self):
        self.items: list[tuple[int, str]] = []
        self.boxes: dict[str, tuple[int, float, float, float, float]] = {}

    def add(self, page: int, line: str) -> None:
        self.items.append((page, line))

    def pages(self) -> list[list[str]]:
        n = max(p for p, _ in self.items)
        out = [[] for _ in range(n)]
        for p, line in self.items:
            out[p - 1].append(line)
        return out


REC = Recorder()


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class GTParagraph(Paragraph):
    """A Paragraph that records the words it actually draws (split pieces record their own part)."""

    def draw(self):
        super().draw()
        bl = self.blPara
        if bl.kind == 0:
            lines = [" ".join(words) for _, words in bl.lines]
        else:
            lines = ["".join(getattr(w, "text", "") for w in line.words).strip() for line in bl.lines]
        REC.add(self.canv.getPageNumber(), " ".join(x for x in lines if x))


class GTTable(Table):
    """A Table that records each drawn row as tab-separated cell texts (split parts record their rows)."""

    def draw(self):
        super().draw()
        page = self.canv.getPageNumber()
        for row in self._cellvalues:
            REC.add(page, "\t".join(_cell_text(c) for c in row))


def _cell_text(c) -> str:
    if isinstance(c, (list, tuple)):
        return " ".join(_cell_text(x) for x in c)
    return getattr(c, "_gt", c if isinstance(c, str) else "")


def cell(text: str, style: ParagraphStyle) -> Paragraph:
    p = Paragraph(esc(text), style)
    p._gt = text
    return p


def fit_lines(text: str, font: str, size: float, width: float) -> list[str]:
    """Wrap but keep runs of spaces (blank number / day fields) as typed."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return [text]
    return simpleSplit(text, font, size, width)


class Header(Flowable):
    """The two-column header block of Nghị định 30/2020 (Phụ lục I, ô 1–5)."""

    LEFT_W = 72 * mm
    RIGHT_W = TEXT_W - LEFT_W + 6 * mm
    RIGHT_X = LEFT_W - 6 * mm

    def __init__(self, src: Source):
        super().__init__()
        self.src = src
        self.left_ops, self.right_ops = [], []
        self._layout()

    def _layout(self):
        # Each op: (kind, text, font, size, dy_before). kind "t" = text line, "rule" = short rule
        L, R = [], []
        for line in self.src.get("parent"):
            L.append(("t", line, "LS-R", 12.5, 13.5))
        for line in self.src.get("issuer"):
            L.append(("t", line, "LS-B", 12.5, 14))
        L.append(("rule", "", "LS-B", 12.5, 6))
        for line in self.src.get("number"):
            L.append(("t", line, "LS-R", 13, 20))
        for i, line in enumerate(self.src.get("subject")):
            L.append(("t", line, "LS-R", 12, 17 if i == 0 else 13.5))
        nat = self.src.get("national")
        R.append(("t", nat[0], "LS-B", 12, 14))
        R.append(("t", nat[1], "LS-B", 13, 15.5))
        R.append(("rule", nat[1], "LS-B", 13, 5))
        for line in self.src.get("place_date"):
            R.append(("t", line, "LS-I", 13, 22))
        self.left_ops, self.right_ops = L, R

    def _height(self, ops, width):
        h = 0
        for kind, text, font, size, dy in ops:
            if kind == "t":
                n = len(fit_lines(text, font, size, width))
                h += dy + (n - 1) * size * 1.1
            else:
                h += dy
        return h + 6

    def wrap(self, aw, ah):
        self.height = max(self._height(self.left_ops, self.LEFT_W), self._height(self.right_ops, self.RIGHT_W))
        return TEXT_W, self.height

    def _draw_col(self, ops, x0, width, record):
        c = self.canv
        y = self.height
        last_w = 0
        page = c.getPageNumber()
        for kind, text, font, size, dy in ops:
            if kind == "t":
                lines = fit_lines(text, font, size, width)
                y -= dy
                for i, ln in enumerate(lines):
                    if i:
                        y -= size * 1.1
                    c.setFont(font, size)
                    c.drawCentredString(x0 + width / 2, y, ln)
                last_w = max(pdfmetrics.stringWidth(ln, font, size) for ln in lines)
                if record:
                    REC.add(page, text)
            else:
                y -= dy
                rule_w = pdfmetrics.stringWidth(text, font, size) if text else min(last_w * 0.45, 30 * mm)
                c.setLineWidth(0.6)
                c.line(x0 + (width - rule_w) / 2, y, x0 + (width + rule_w) / 2, y)

    def draw(self):
        self._draw_col(self.left_ops, 0, self.LEFT_W, True)
        self._draw_col(self.right_ops, self.RIGHT_X, self.RIGHT_W, True)


class Rule(Flowable):
    """Short centred rule under the document title."""

    def __init__(self, width):
        super().__init__()
        self.w = width

    def wrap(self, aw, ah):
        self.aw = aw
        return aw, 8

    def draw(self):
        self.canv.setLineWidth(0.6)
        self.canv.line((self.aw - self.w) / 2, 6, (self.aw + self.w) / 2, 6)


class SignBlock(Flowable):
    """Signature (right) and Nơi nhận (left, bottom), side by side as ND30 places them."""

    LEFT_W = 78 * mm
    RIGHT_X = 82 * mm
    RIGHT_W = TEXT_W - 82 * mm

    def __init__(self, src: Source):
        super().__init__()
        self.sig = src.get("signature")
        self.dist = src.get("distribution")

    def _right_h(self):
        h = 0
        for line in self.sig:
            h += 15 if line.strip() else 62
        return h + 10

    def _left_lines(self):
        out = []
        for i, line in enumerate(self.dist):
            font, size = ("LS-BI", 12) if i == 0 else ("LS-R", 11)
            out.append((line, font, size, fit_lines(line, font, size, self.LEFT_W)))
        return out

    def _left_h(self):
        return 20 + sum(len(w) * 12.5 for _, _, _, w in self._left_lines()) + 4

    def wrap(self, aw, ah):
        self.height = max(self._right_h(), self._left_h())
        return TEXT_W, self.height

    def draw(self):
        c, page = self.canv, self.canv.getPageNumber()
        # right column: authority, title, space, name
        y = self.height - 8
        cx = self.RIGHT_X + self.RIGHT_W / 2
        top = y
        for line in self.sig:
            if not line.strip():
                y -= 62
                continue
            y -= 15
            is_name = line is self.sig[-1]
            c.setFont("LS-B", 14 if is_name else 13.5)
            c.drawCentredString(cx, y, line)
            REC.add(page, line)
        # where the signature and stamp go (for the harsh scan), in absolute page points
        ax, ay = c.absolutePosition(self.RIGHT_X, y - 6)
        REC.boxes["signature"] = (page, ax, ay, self.RIGHT_W, top - y + 12)
        # left column: Nơi nhận
        y = self.height - 20
        for line, font, size, wrapped in self._left_lines():
            for ln in wrapped:
                c.setFont(font, size)
                c.drawString(0, y, ln)
                y -= 12.5
            REC.add(page, line)


def page_number(canvas, doc):
    """ND30: page numbers from page 2, centred in the top margin."""
    n = canvas.getPageNumber()
    if n >= 2:
        canvas.setFont("LS-R", 13)
        canvas.drawCentredString(PAGE_W / 2, PAGE_H - 12 * mm, str(n))
        REC.add(n, str(n))


def is_heading(line: str) -> bool:
    """Section headings are printed bold: roman-numeral parts and short numbered titles without final punctuation."""
    if re.match(r"^[IVX]+\.\s", line):
        return True
    return bool(re.match(r"^\d+\.\s", line)) and len(line) < 160 and not re.search(r"[.;:,]$", line)


def build_text_pdf(src: Source, out: Path) -> tuple[list[list[str]], dict]:
    """Lay out one dispatch with platypus; return ground-truth pages and the signature box."""
    register_fonts()
    size = 13 if src.seed == "001" else 14
    lead = size * 1.22
    body = ParagraphStyle("body", fontName="LS-R", fontSize=size, leading=lead, alignment=TA_JUSTIFY,
                          firstLineIndent=10 * mm, spaceAfter=6)
    head = ParagraphStyle("head", parent=body, fontName="LS-B")
    title = ParagraphStyle("title", fontName="LS-B", fontSize=14, leading=17, alignment=TA_CENTER)
    kg = ParagraphStyle("kg", fontName="LS-R", fontSize=14, leading=17, leftIndent=55 * mm)
    kgi = ParagraphStyle("kgi", fontName="LS-R", fontSize=14, leading=17, leftIndent=35 * mm,
                         firstLineIndent=0, alignment=TA_LEFT)
    th = ParagraphStyle("th", fontName="LS-B", fontSize=11.5, leading=13.5, alignment=TA_CENTER)
    td = ParagraphStyle("td", fontName="LS-R", fontSize=11.5, leading=13.5, alignment=TA_LEFT)
    tdc = ParagraphStyle("tdc", parent=td, alignment=TA_CENTER)
    tg = ParagraphStyle("tg", parent=td, fontName="LS-B")
    tgc = ParagraphStyle("tgc", parent=tg, alignment=TA_CENTER)

    story: list = [Header(src)]
    if src.get("title"):
        story.append(Spacer(1, 16))
        for line in src.get("title"):
            story.append(GTParagraph(esc(line), title))
        story.append(Rule(35 * mm))
    story.append(Spacer(1, 12))
    rec = src.get("recipients")
    if rec:
        story.append(GTParagraph(esc(rec[0]), kg))
        for line in rec[1:]:
            story.append(GTParagraph(esc(line), kgi))
        story.append(Spacer(1, 10))

    lines = src.get("body")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if "\t" in line:
            rows = []
            while i < len(lines) and "\t" in lines[i]:
                rows.append(lines[i].split("\t"))
                i += 1
            story.append(make_table(rows, th, td, tdc, tg, tgc))
            story.append(Spacer(1, 8))
            continue
        story.append(GTParagraph(esc(line), head if is_heading(line) else body))
        i += 1
    story.append(Spacer(1, 4))
    story.append(SignBlock(src))

    REC.__init__()
    doc = SimpleDocTemplate(str(out), pagesize=A4, leftMargin=MARGIN_L, rightMargin=MARGIN_R,
                            topMargin=MARGIN_T, bottomMargin=MARGIN_B, invariant=1, initialFontName="LS-R",
                            title="", author="", creator="", producer="")
    doc.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return REC.pages(), dict(REC.boxes)


def make_table(rows, th, td, tdc, tg, tgc) -> Table:
    """Section III task table of 001: header row, roman-numbered group rows spanning the task columns."""
    widths = [13 * mm, 67 * mm, 40 * mm, TEXT_W - 120 * mm]
    data, style = [], [
        ("GRID", (0, 0), (-1, -1), 0.5, (0, 0, 0)),
        ("FONTNAME", (0, 0), (-1, -1), "LS-R"),  # empty spanned cells would otherwise pull in Helvetica
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for r, cells in enumerate(rows):
        cells = (cells + [""] * 4)[:4]
        if r == 0:
            data.append([cell(c, th) for c in cells])
            continue
        if re.fullmatch(r"[IVX]+", cells[0]) and not any(cells[2:]):
            data.append([cell(cells[0], tgc), cell(cells[1], tg), "", ""])
            style.append(("SPAN", (1, r), (3, r)))
        else:
            data.append([cell(cells[0], tdc), cell(cells[1], td), cell(cells[2], td), cell(cells[3], td)])
    return GTTable(data, colWidths=widths, repeatRows=1, style=TableStyle(style))


# --------------------------------------------------------------------------- garbled layer

def _utf16be_hex(s: str) -> str:
    return s.encode("utf-16-be").hex().upper()


def garble_cmap(data: bytes) -> tuple[bytes, int]:
    """Rewrite a ToUnicode CMap so glyph codes of ư/ơ/Ư/Ơ/“/” decode to °/¡/¯/¢/</=.

    bfchar entries are rewritten in place; a bfrange that covers a target is split into
    the part before, single bfchar entries for the hits, and the part after.
    """
    text = data.decode("latin-1")
    bad = {_utf16be_hex(k): _utf16be_hex(v) for k, v in GARBLE.items()}
    changed = 0

    def fix_chars(m):
        nonlocal changed
        body = m.group(2)
        def sub(mm_):
            nonlocal changed
            dst = mm_.group(2).upper()
            if dst in bad:
                changed += 1
                return f"<{mm_.group(1)}> <{bad[dst]}>"
            return mm_.group(0)
        body = re.sub(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", sub, body)
        return m.group(1) + body + m.group(3)

    text = re.sub(r"(\d+\s+beginbfchar)(.*?)(endbfchar)", fix_chars, text, flags=re.S)

    def fix_ranges(m):
        nonlocal changed
        if "[" in m.group(2):  # array-form destinations: leave the block alone rather than misparse it
            return m.group(0)
        entries = re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", m.group(2))
        keep, singles = [], []
        for lo, hi, dst in entries:
            n = len(lo)
            a, b, d = int(lo, 16), int(hi, 16), int(dst, 16)
            start = a
            for code in range(a, b + 1):
                u = chr(d + code - a)
                if u in GARBLE:
                    if code > start:
                        keep.append((start, code - 1, d + start - a, n))
                    singles.append((code, GARBLE[u], n))
                    changed += 1
                    start = code + 1
            if start <= b:
                keep.append((start, b, d + start - a, n))
        out = f"{len(keep)} beginbfrange\n" + "".join(
            f"<{lo:0{n}X}> <{hi:0{n}X}> <{dst:04X}>\n" for lo, hi, dst, n in keep) + "endbfrange"
        if singles:
            out += f"\n{len(singles)} beginbfchar\n" + "".join(
                f"<{c:0{n}X}> <{_utf16be_hex(u)}>\n" for c, u, n in singles) + "endbfchar"
        return out

    text = re.sub(r"(\d+\s+beginbfrange)(.*?)endbfrange", fix_ranges, text, flags=re.S)
    return text.encode("latin-1"), changed


def make_garbled(text_pdf: Path, out: Path) -> int:
    """Copy the text PDF, replacing every font's /ToUnicode stream with a garbled one."""
    reader = PdfReader(str(text_pdf))
    writer = PdfWriter(clone_from=reader)
    done, total = set(), 0
    for page in writer.pages:
        fonts = page["/Resources"].get_object().get("/Font")
        if not fonts:
            continue
        for _, ref in fonts.get_object().items():
            font = ref.get_object()
            tu = font.get("/ToUnicode")
            if tu is None:
                continue
            key = tu.idnum if hasattr(tu, "idnum") else id(tu)
            if key in done:
                continue
            done.add(key)
            stream = tu.get_object()
            new, n = garble_cmap(stream.get_data())
            total += n
            stream.set_data(new)
    writer.add_metadata({"/Producer": "congvan samples"})
    with open(out, "wb") as fh:
        writer.write(fh)
    return total


# --------------------------------------------------------------------------- scans

def render_pages(pdf: Path, dpi: int, grey: bool) -> list[np.ndarray]:
    doc = pdfium.PdfDocument(str(pdf))
    out = []
    for page in doc:
        bmp = page.render(scale=dpi / 72, grayscale=grey)
        img = bmp.to_pil().convert("L" if grey else "RGB")
        out.append(np.asarray(img).astype(np.float32))
        page.close()
    doc.close()
    return out


def rotate(img: np.ndarray, angle: float, fill) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def mild_scan(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Office-scanner look: faint grey paper, slight blur, small skew, sensor noise."""
    h, w = img.shape[:2]
    paper = rng.uniform(228, 240)
    ink = rng.uniform(20, 40)
    out = ink + (img / 255.0) * (paper - ink)
    shade = np.linspace(1.0, rng.uniform(0.96, 0.99), w, dtype=np.float32)[None, :]
    out = out * (shade if out.ndim == 2 else shade[..., None])
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 0.8))
    angle = float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.2))
    out = rotate(out, angle, float(paper))
    out = out + rng.normal(0, rng.uniform(3, 5), out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def jpeg_bytes(arr: np.ndarray, quality: int, dpi: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality, dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()


def images_to_pdf(jpegs: list[bytes], out: Path) -> None:
    """A4 pages, each fully covered by one JPEG (passed through, not re-encoded); no text layer."""
    # a TrueType initial font keeps reportlab from writing a Helvetica resource: a scan has no fonts at all
    c = rl_canvas.Canvas(str(out), pagesize=A4, invariant=1, initialFontName="LS-R")
    c.setTitle("")
    for data in jpegs:
        c.drawImage(ImageReader(io.BytesIO(data)), 0, 0, PAGE_W, PAGE_H)
        c.showPage()
    c.save()


def draw_stamp(rgb: np.ndarray, cx: float, cy: float, radius: float, text: str, rng) -> np.ndarray:
    """Red round seal: two rings, text around, star in the middle, multiplied in with some transparency."""
    size = int(radius * 2 + 20)
    layer = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(layer)
    c0 = size / 2
    for r, wdt in ((radius, max(3, int(radius * 0.05))), (radius * 0.72, max(2, int(radius * 0.025)))):
        d.ellipse([c0 - r, c0 - r, c0 + r, c0 + r], outline=255, width=wdt)
    # star
    pts = []
    rs = radius * 0.28
    for k in range(10):
        a = -math.pi / 2 + k * math.pi / 5
        rr = rs if k % 2 == 0 else rs * 0.4
        pts.append((c0 + rr * math.cos(a), c0 + rr * math.sin(a)))
    d.polygon(pts, fill=255)
    # text around the ring, letters upright towards the centre
    font = ImageFont.truetype(STAMP_FONT, int(radius * 0.16))
    r_txt = radius * 0.86
    span = 300.0
    n = len(text)
    for k, ch in enumerate(text):
        ang = -90 - span / 2 + span * (k + 0.5) / n  # degrees, clockwise from the top-left
        a = math.radians(ang)
        x, y = c0 + r_txt * math.cos(a), c0 + r_txt * math.sin(a)
        g = Image.new("L", (int(radius * 0.3), int(radius * 0.3)), 0)
        ImageDraw.Draw(g).text((g.width / 2, g.height / 2), ch, fill=255, font=font, anchor="mm")
        g = g.rotate(-(ang + 90), resample=Image.BICUBIC)
        layer.paste(255, (int(x - g.width / 2), int(y - g.height / 2)), g)
    mask = np.asarray(layer).astype(np.float32) / 255.0
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)
    # ink coverage uneven, like a real stamp
    mask *= np.clip(rng.normal(0.85, 0.12, mask.shape), 0.4, 1.0).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.8) * 0.85
    red = np.array([205, 35, 45], np.float32) / 255.0
    x0, y0 = int(cx - size / 2), int(cy - size / 2)
    region = rgb[y0:y0 + size, x0:x0 + size]
    m = mask[: region.shape[0], : region.shape[1], None]
    region[:] = region * (1 - m * (1 - red))  # multiply blend
    return rgb


def draw_signature(rgb: np.ndarray, x: float, y: float, w: float, h: float, rng) -> np.ndarray:
    """A blue ballpoint signature: a slanted looping trochoid (cursive-like) and an underline flourish."""
    layer = np.zeros(rgb.shape[:2], np.float32)
    loops = int(rng.integers(4, 7))
    s = np.linspace(0, 2 * math.pi * loops, 900)
    c, d = 0.55, 1.0  # d > c: the curve loops back on itself like joined handwriting
    u = c * s - d * np.sin(s)
    v = -d * np.cos(s) * (1.0 - 0.35 * s / s[-1]) + 0.25 * np.sin(0.5 * s)
    u = (u - u.min()) / (u.max() - u.min())
    v = (v - v.min()) / (v.max() - v.min())
    xs = x + w * (0.05 + 0.8 * u) + 0.25 * h * (1 - v)  # forward slant
    ys = y + h * 0.65 * v
    cv2.polylines(layer, [np.stack([xs, ys], 1).astype(np.int32)], False, 1.0, thickness=2, lineType=cv2.LINE_AA)
    fx = np.linspace(x, x + w, 80)
    fy = y + h * (0.8 + 0.12 * np.sin(np.linspace(0, math.pi, 80))) - h * 0.15 * np.linspace(0, 1, 80)
    cv2.polylines(layer, [np.stack([fx, fy], 1).astype(np.int32)], False, 1.0, thickness=2, lineType=cv2.LINE_AA)
    blue = np.array([25, 45, 140], np.float32) / 255.0
    m = np.clip(layer * 0.95, 0, 1)[..., None]
    return rgb * (1 - m * (1 - blue))


def harsh_scan(img: np.ndarray, sig_px, stamp_text: str, rng) -> np.ndarray:
    """Worn copy-of-a-copy: uneven light, blur, noise, binarisation specks, stamp, signature, 1.5° skew.

    sig_px is the signature block (x, y, w, h) in pixels on the page that carries it, else None.
    """
    h, w = img.shape[:2]
    rgb = img.copy()
    # binarisation artefacts: threshold the page, then blend back so strokes get ragged
    grey = rgb.mean(axis=2)
    ragged = cv2.GaussianBlur(grey, (0, 0), 1.1) + rng.normal(0, 25, grey.shape).astype(np.float32)
    binary = np.where(ragged < 150, 0.0, 255.0).astype(np.float32)
    grey = 0.55 * binary + 0.45 * grey
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if sig_px is not None:
        x, y, bw, bh = sig_px
        rgb = draw_signature(rgb, x + bw * 0.2, y + bh * 0.3, bw * 0.6, bh * 0.4, rng)
        rgb = draw_stamp(rgb, x + bw * 0.3, y + bh * 0.5, bh * 0.55, stamp_text, rng)
    # yellowed paper + uneven illumination (bright centre, dark corner)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - 0.22 * (((xx - w * 0.35) / w) ** 2 + ((yy - h * 0.3) / h) ** 2) - 0.06 * (yy / h)
    paper = np.array([232, 226, 210], np.float32)
    rgb = rgb / 255.0 * paper * light[..., None]
    rgb = cv2.GaussianBlur(rgb, (0, 0), 1.35)
    rgb = rotate(rgb, 1.5, tuple(float(v) * 0.9 for v in paper))
    rgb = rgb + rng.normal(0, 13, rgb.shape).astype(np.float32)
    # dust specks
    for _ in range(250):
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        cv2.circle(rgb, (cx, cy), int(rng.integers(1, 3)), tuple([float(rng.uniform(40, 110))] * 3), -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- main

def write_gt(path: Path, pages: list[list[str]]) -> None:
    text = "\f".join("\n".join(p) + "\n" for p in pages)
    path.write_text(unicodedata.normalize("NFC", text), encoding="utf-8")


def main() -> int:
    register_fonts()
    report = []
    for seed in SEEDS:
        src = read_source(seed)
        text_pdf = HERE / f"{seed}-text.pdf"
        pages, boxes = build_text_pdf(src, text_pdf)
        for variant in ("text", "garbled", "scan"):
            write_gt(HERE / f"{seed}-{variant}.gt.txt", pages)
        n = make_garbled(text_pdf, HERE / f"{seed}-garbled.pdf")
        report.append(f"{seed}: {len(pages)} pages, {n} ToUnicode entries garbled")

        rng = np.random.default_rng(int(seed) + 1000)
        imgs = [mild_scan(p, rng) for p in render_pages(text_pdf, 200, True)]
        images_to_pdf([jpeg_bytes(im, int(rng.integers(70, 81)), 200) for im in imgs], HERE / f"{seed}-scan.pdf")
        if seed == "002":
            Image.fromarray(imgs[0]).save(HERE / "002-scan-p1.png", dpi=(200, 200), optimize=True)
            write_gt(HERE / "002-scan-p1.gt.txt", pages[:1])
        if seed == "003":
            # fax-style bilevel TIFF (CCITT G4), the usual format of office scanners' archives
            bil = [Image.fromarray(np.where(im < 150, 0, 255).astype(np.uint8)).convert("1") for im in imgs]
            bil[0].save(HERE / "003-scan.tiff", save_all=True, append_images=bil[1:],
                        compression="group4", dpi=(200, 200))
            write_gt(HERE / "003-scan.gt.txt", pages)
        if seed == "004":
            dpi = 150
            rng_h = np.random.default_rng(4004)
            rendered = render_pages(text_pdf, dpi, False)
            sp, sx, sy, sw, sh = boxes["signature"]
            k = dpi / 72
            sig_px = (sx * k, (PAGE_H - sy - sh) * k, sw * k, sh * k)
            stamp = "ỦY BAN NHÂN DÂN TỈNH THÁI BÌNH"
            out = []
            for i, im in enumerate(rendered):
                out.append(harsh_scan(im, sig_px if i + 1 == sp else None, stamp, rng_h))
            images_to_pdf([jpeg_bytes(o, 50, dpi) for o in out], HERE / "004-harsh.pdf")
            write_gt(HERE / "004-harsh.gt.txt", pages)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
