"""Extractors: each takes a Document and returns values with spans, method and confidence."""
from __future__ import annotations

import re
from typing import Any

from congvan.pipeline.document import Document
from congvan.schemas.record import Issuer, Signer

from .spans import Hit

_ISSUER = ("name", "level", "locality", "parent")
_SIGNER = ("name", "title", "authority", "on_behalf_of")


def _lists(doc: Document) -> dict[str, list]:
    """References, movements and tasks come from their own extractors (written beside this one)."""
    from .movements import find_movements
    from .references import find_references
    from .tasks import find_tasks

    return {"references": find_references(doc), "movements": find_movements(doc), "tasks": find_tasks(doc)}


def _drop_signer_name(items: list[Hit], name: Any) -> None:
    """A born-digital layer interleaves the signature column into the "Nơi nhận" lines, so the
    signer's name can land inside an item ("Các CQ, ĐV tham gia Cụm thi đua Lê Thành Đô của tỉnh"):
    a person's name is never part of a recipient body, so it is cut out."""
    if not name or len(str(name).split()) < 2:
        return
    for h in items:
        if isinstance(h.value, str) and f" {name} " in f" {h.value} ":
            h.value = re.sub(r"\s+", " ", f" {h.value} ".replace(f" {name} ", " ")).strip(" ,;")
            h.confidence = min(h.confidence, 0.7)
    items[:] = [h for h in items if h.value]


def extract_fields(doc: Document) -> dict[str, Any]:
    """Keyword arguments for `Record` (all but source, text, pages, pipeline_version).

    Scalars are traced in `provenance` by field path ("number", "issuer.name", "signer.name");
    recipients and distribution items by "recipients[i]" / "distribution[i]"."""
    from .header import extract_header
    from .parties import find_distribution, find_recipients
    from .signer import find_signer

    hits: dict[str, Hit] = extract_header(doc)
    recipients = find_recipients(doc)
    distribution, anchor = find_distribution(doc)
    hits.update(find_signer(doc, anchor))

    def v(key: str):
        h = hits.get(key)
        return None if h is None else h.value

    _drop_signer_name(distribution, v("signer.name"))
    provenance = {k: h.prov(doc) for k, h in hits.items() if h.value is not None and h.start >= 0}
    for name, items in (("recipients", recipients), ("distribution", distribution)):
        for i, h in enumerate(items):
            provenance[f"{name}[{i}]"] = h.prov(doc)

    fields: dict[str, Any] = {
        "number": v("number"),
        "symbol": v("symbol"),
        "doc_type": v("doc_type"),
        "issuer": Issuer(**{k: v(f"issuer.{k}") for k in _ISSUER}),
        "place": v("place"),
        "issued_date": v("issued_date"),
        "subject": v("subject"),
        "recipients": [h.value for h in recipients],
        "distribution": [h.value for h in distribution],
        "signer": Signer(**{k: v(f"signer.{k}") for k in _SIGNER}),
        "urgency": v("urgency"),
        "secrecy": v("secrecy"),
        "provenance": provenance,
    }
    fields.update(_lists(doc))
    return fields
