"""Everything a reader process loads on its first file, loaded once in the fork server.

Worker processes are forked from a server that imports this module (pool.PRELOAD). Importing it
loads what the first file would otherwise load in every worker: the lazily imported modules
(PLAYA, the extractors' submodules) and the cached rule tables and regexes, by reading one short
invented dispatch through the extractors. The workers then share those pages copy-on-write instead
of each building its own (~0.15 s of CPU per worker). The post-correction language model is left to
the first OCR'd page (0.24 s): a run of text layers never needs it, and the workers wait for this
warm-up. A failure here only costs that time: it is logged, and each worker loads what it needs on
first use as before.
"""
from __future__ import annotations

import logging

log = logging.getLogger("congvan.pool")

# An invented dispatch touching every extractor: header, references, a movement, tasks, signer,
# distribution. Its content does not matter; only that each rule table gets loaded.
_TEXT = """ỦY BAN NHÂN DÂN
TỈNH MẪU
Số: 12/KH-UBND
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Tỉnh Mẫu, ngày 05 tháng 3 năm 2025
KẾ HOẠCH
Triển khai phong trào thi đua "Chung tay vì người nghèo" giai đoạn 2025-2030
Căn cứ Chỉ thị số 34-CT/TW ngày 07/4/2014 của Bộ Chính trị;
1. Sở Nội vụ chủ trì, phối hợp với các sở, ngành tổ chức triển khai, hoàn thành trước ngày 30/6/2025.
Nơi nhận:
- Sở Nội vụ;
- Lưu: VT, NC.
TM. ỦY BAN NHÂN DÂN
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
Nguyễn Văn An
"""


def warm() -> None:
    from congvan.pipeline import acquire, playaobjects, run  # noqa: F401
    from congvan.pipeline.document import Document

    run.build_record(Document.from_text(_TEXT))


try:
    warm()
except Exception as exc:  # noqa: BLE001 - see the module doc
    log.warning("reader warm-up skipped: %s: %s", type(exc).__name__, exc)
