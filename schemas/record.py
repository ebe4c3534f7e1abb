"""The contract record (../shared/CONTRACT.md) as pydantic models.

Every extracted value can be traced: list items carry their own `prov`; scalar
header fields are traced in `Record.provenance`, keyed by field path
("number", "issuer.name", "signer.name", ...).
"""
from __future__ import annotations

import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

TextSource = Literal["text_layer", "ocr", "mixed"]
PageSource = Literal["text_layer", "repaired_layer", "ocr"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Provenance(_Model):
    """Where a value came from: 1-based page, character span in `Record.text`, method, confidence."""

    page: Optional[int] = None
    start: Optional[int] = None
    end: Optional[int] = None
    method: str
    confidence: float = Field(ge=0.0, le=1.0)


class Source(_Model):
    path: str
    sha256: str
    pages: int
    text_source: TextSource


class PageInfo(_Model):
    """How one page's text was obtained, and why."""

    number: int
    text_source: PageSource
    reason: str
    chars: int
    ocr_confidence: Optional[float] = None
    start: int = 0  # offset of the page's first character in Record.text


class Issuer(_Model):
    name: Optional[str] = None
    level: Optional[str] = None  # "trung ương" | "tỉnh" | "huyện" | "xã"
    locality: Optional[str] = None
    parent: Optional[str] = None  # the governing body line above, e.g. "UBND TỈNH LÂM ĐỒNG"


class Signer(_Model):
    name: Optional[str] = None
    title: Optional[str] = None
    authority: Optional[Literal["TM.", "KT.", "TL.", "TUQ.", "Q."]] = None
    on_behalf_of: Optional[str] = None  # "ỦY BAN NHÂN DÂN" in "TM. ỦY BAN NHÂN DÂN"


class Reference(_Model):
    raw: str
    doc_type: str
    number: Optional[str] = None
    key: str
    date: Optional[str] = None
    issuer: Optional[str] = None
    citation: str = "other"  # "can_cu" | "thuc_hien" | "theo" | "other"
    prov: Optional[Provenance] = None


class Movement(_Model):
    name: str
    canonical: str
    period: Optional[str] = None
    launched_by: Optional[str] = None
    prov: Optional[Provenance] = None


class Task(_Model):
    text: str
    assignee: str
    coordinators: list[str] = Field(default_factory=list)
    deadline: Optional[str] = None  # ISO date, YYYY-MM, YYYY-Qn, or "recurring"
    item: Optional[str] = None  # "1", "1.2", "a)"
    prov: Optional[Provenance] = None


class Record(_Model):
    source: Source
    number: Optional[str] = None
    symbol: Optional[str] = None
    doc_type: Optional[str] = None
    issuer: Issuer = Field(default_factory=Issuer)
    place: Optional[str] = None
    issued_date: Optional[str] = None
    subject: Optional[str] = None
    recipients: list[str] = Field(default_factory=list)
    distribution: list[str] = Field(default_factory=list)
    signer: Signer = Field(default_factory=Signer)
    references: list[Reference] = Field(default_factory=list)
    movements: list[Movement] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    text: str = ""
    urgency: Optional[str] = None  # "Khẩn" | "Thượng khẩn" | "Hỏa tốc"
    secrecy: Optional[str] = None  # "Mật" | "Tối mật" | "Tuyệt mật"
    pages: list[PageInfo] = Field(default_factory=list)
    provenance: dict[str, Provenance] = Field(default_factory=dict)
    pipeline_version: str = ""


def json_schema() -> str:
    """The JSON Schema published beside the models (schemas/record.schema.json)."""
    return json.dumps(Record.model_json_schema(), ensure_ascii=False, indent=2, sort_keys=True)
