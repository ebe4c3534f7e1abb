"""edXML (QCVN 102:2016/BTTTT): valid against schemas/edxml.xsd, the standard's layout and prefix,
read back and compared field by field with the database, the file attached byte for byte."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from lxml import etree

from congvan.pipeline.export import (EDXML_NS, TYPE_NAMES, XLINK_NS, edxml_schema, export, join_number,
                                     read_edxml, split_number)
from congvan.pipeline.store import Store
from textlayer_db import build_text_samples_db
from test_store_fixtures import make_record

NS = {"e": EDXML_NS}
H = "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/"


@pytest.fixture(scope="session")
def text_db(tmp_path_factory, worker_id):
    return build_text_samples_db(tmp_path_factory, worker_id)


@pytest.fixture(scope="module")
def sample_export(text_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("edxml")
    return export(text_db, "edxml", out)


@pytest.fixture
def db(tmp_path):
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake bytes\n")
    path = tmp_path / "congvan.duckdb"
    with Store(path) as store:
        store.save(make_record("a"), stored_path=str(pdf), original_name="../../KH 1023.pdf")
        store.save(make_record("b", number=None, symbol="UBND-NV", doc_type="CV", issued_date="2024-08",
                               urgency="Hỏa tốc", tasks=[], recipients=[], distribution=[],
                               signer={"name": None, "title": None, "authority": None, "on_behalf_of": None}))
        store.save(make_record("c", number="34-CT/TW", symbol="TW", doc_type="CT", subject=None))
    return path


def test_every_sample_validates_and_uses_the_standard_layout(sample_export):
    assert sample_export
    for p in sample_export:
        raw = p.read_bytes()
        assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        root = etree.fromstring(raw)
        edxml_schema().assertValid(root)
        assert root.tag == f"{{{EDXML_NS}}}edXML" and root.prefix is None
        env = root.find("e:edXMLEnvelope", NS)
        assert env.prefix == "edXML" and all(el.prefix == "edXML" for el in env.iter(etree.Element))
        assert b"<edXML:MessageHeader>" in raw and b"<edXML:PromulgationInfo>" in raw
        assert b'<edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:' in raw


def test_samples_round_trip_field_by_field(text_db, sample_export):
    by_id = {p.stem: read_edxml(p.read_bytes()) for p in sample_export}
    with Store(text_db, read_only=True) as ro:
        cols, rows = ro.query("""SELECT id, sha256, number, symbol, doc_type, issuer_name, issuer_parent, place,
                                        issued_date, subject, signer_name, signer_title, signer_authority,
                                        signer_on_behalf_of, urgency, pages, path FROM v_documents ORDER BY id""")
        assert sorted(by_id) == [r[0] for r in rows]
        for row in rows:
            want = dict(zip(cols, row))
            got = by_id[want["id"]]
            for field in ("sha256", "doc_type", "issuer_name", "issuer_parent", "place", "subject", "signer_name",
                          "signer_title", "signer_authority", "signer_on_behalf_of", "urgency", "pages"):
                assert got[field] == want[field], f"{want['id']}: {field}"
            assert got["number"] == want["number"], want["id"]
            if want["number"] is None or want["number"].endswith("/" + (want["symbol"] or "")):
                assert got["symbol"] == want["symbol"], want["id"]
            full_day = want["issued_date"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", want["issued_date"])
            assert got["issued_date"] == (want["issued_date"] if full_day else None), want["id"]
            rec = ro.record(want["id"])
            assert got["text"] == rec.text
            assert got["recipients"] == rec.recipients and got["distribution"] == rec.distribution
            days = sorted(t.deadline for t in rec.tasks if t.deadline and re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.deadline))
            assert got["due_date"] == (days[0] if days else None)
            (att,) = got["attachments"].values()
            data = Path(want["path"]).read_bytes()
            assert att["data"] == data and att["content_type"] == "application/pdf"
            assert hashlib.sha256(data).hexdigest() == want["sha256"] == next(iter(got["attachments"]))


def test_samples_carry_the_header_a_receiver_needs(sample_export):
    for p in sample_export:
        t = etree.parse(str(p)).getroot()
        assert t.findtext(H + "e:From/e:OrganName", namespaces=NS)
        assert t.findtext(H + "e:DocumentType/e:TypeName", namespaces=NS) in TYPE_NAMES.values()
        date = t.findtext(H + "e:PromulgationInfo/e:PromulgationDate", namespaces=NS)
        assert date is None or re.fullmatch(r"\d{4}/\d{2}/\d{2}", date)
        ref = t.find("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference", NS)
        cid = t.findtext("e:AttachmentEncoded/e:Attachment/e:ContentId", namespaces=NS)
        assert ref.get(f"{{{XLINK_NS}}}href") == f"cid:{cid}"


def test_hand_made_records(db, tmp_path):
    files = {p.stem: etree.parse(str(p)).getroot() for p in export(db, "edxml", tmp_path / "x")}
    a = files[make_record("a").source.sha256[:16]]
    assert a.findtext(H + "e:Code/e:CodeNumber", namespaces=NS) == "1023"
    assert a.findtext(H + "e:Code/e:CodeNotation", namespaces=NS) == "KH-UBND"
    assert a.findtext(H + "e:PromulgationInfo/e:PromulgationDate", namespaces=NS) == "2024/01/10"
    assert a.findtext(H + "e:DocumentType/e:TypeName", namespaces=NS) == "Kế hoạch"
    assert a.findtext(H + "e:SignerInfo/e:Competence", namespaces=NS) == "TM. ỦY BAN NHÂN DÂN"
    assert a.findtext(H + "e:SignerInfo/e:Position", namespaces=NS) == "Chủ tịch"
    assert a.findtext(H + "e:DueDate", namespaces=NS) == "2024/03/15"  # the 2024-12 deadline is not a day
    assert [e.text for e in a.findall(H + "e:To/e:OrganName", NS)] == make_record("a").recipients
    assert [e.text for e in a.findall(H + "e:ToPlaces/e:Place", NS)] == ["Như trên", "Lưu: VT"]
    assert a.findtext(H + "e:OtherInfo/e:Priority", namespaces=NS) == "0"
    assert a.find(H + "e:From/e:OrganId", NS) is None  # unknown: left out, not an empty guess
    att = a.find("e:AttachmentEncoded/e:Attachment", NS)
    assert att.findtext("e:AttachmentName", namespaces=NS) == "KH 1023.pdf"  # directories dropped
    assert base64.b64decode(att.findtext("e:ContentTransferEncoded", namespaces=NS)) == b"%PDF-1.4 fake bytes\n"

    b = files[make_record("b").source.sha256[:16]]
    assert b.findtext(H + "e:Code/e:CodeNumber", namespaces=NS) == ""  # blank number: empty element
    assert b.findtext(H + "e:Code/e:CodeNotation", namespaces=NS) == "UBND-NV"
    assert b.find(H + "e:PromulgationInfo/e:PromulgationDate", NS) is None  # a month is not a day
    assert b.findtext(H + "e:OtherInfo/e:Priority", namespaces=NS) == "3"
    assert b.find(H + "e:SignerInfo", NS) is None and b.find(H + "e:DueDate", NS) is None
    assert b.find("e:AttachmentEncoded", NS) is None  # no stored file
    got = read_edxml(etree.tostring(b))
    assert (got["number"], got["symbol"], got["urgency"], got["issued_date"]) == (None, "UBND-NV", "Hỏa tốc", None)

    c = read_edxml(etree.tostring(files[make_record("c").source.sha256[:16]]))
    assert (c["number"], c["symbol"], c["subject"]) == ("34-CT/TW", "TW", None)


@pytest.mark.parametrize("number, symbol, code", [
    ("1023/KH-UBND", "KH-UBND", ("1023", "KH-UBND")),
    ("34-CT/TW", "TW", ("34-CT", "TW")),
    ("1150/UBND-NC1", None, ("1150", "UBND-NC1")),
    (None, "UBND-NV", ("", "UBND-NV")),
    ("15", None, ("15", "")),
])
def test_number_split_and_join(number, symbol, code):
    assert split_number(number, symbol) == code
    assert join_number(*code)[0] == number


@pytest.mark.parametrize("mutate", [
    lambda r: r.find(H + "e:PromulgationInfo/e:PromulgationDate", NS).__setattr__("text", "2024-01-10"),
    lambda r: r.find(H + "e:From", NS).remove(r.find(H + "e:From/e:OrganName", NS)),
    lambda r: r.find(H + "e:OtherInfo/e:Priority", NS).__setattr__("text", "9"),
    lambda r: r.find("e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", NS).__setattr__("text", "%%"),
    lambda r: r.find("e:edXMLEnvelope/e:edXMLHeader", NS).remove(r.find(H.rstrip("/"), NS)),
], ids=["iso-date", "no-organ-name", "priority-9", "not-base64", "no-header"])
def test_the_schema_rejects_broken_packages(db, tmp_path, mutate):
    (p,) = [p for p in export(db, "edxml", tmp_path / "x") if p.stem == make_record("a").source.sha256[:16]]
    root = etree.parse(str(p)).getroot()
    mutate(root)
    assert not edxml_schema().validate(root)
    with pytest.raises(etree.DocumentInvalid):
        read_edxml(etree.tostring(root))


def test_reader_refuses_external_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    doc = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY s SYSTEM "file://{secret}">]>'
           f'<edXML xmlns="{EDXML_NS}"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganName>&s;'
           '</OrganName></From></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>').encode()
    with pytest.raises(Exception) as info:
        read_edxml(doc)
    assert "TOP SECRET" not in str(info.value)
