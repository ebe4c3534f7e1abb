"""Movement lists read through OCR debris between the quoted names (made-up snippets, one test per rule)."""
from congvan.extractors.movements import find_movements
from congvan.pipeline.document import Document


def names(text):
    return [m.name for m in find_movements(Document.from_text(text))]


def test_straight_quote_glued_after_doubled_punctuation_opens_the_next_name():
    text = ('Các đơn vị đẩy mạnh các phong trào thi đua như: "Dân vận khéo", "Xanh hóa công sở”,."Gia đình '
            'học tập kiểu mẫu”, "Thanh niên tình nguyện" trên địa bàn.\n')
    assert names(text) == ["Dân vận khéo", "Xanh hóa công sở", "Gia đình học tập kiểu mẫu", "Thanh niên tình nguyện"]


def test_speck_read_as_an_apostrophe_between_names_keeps_the_list():
    text = ('Hưởng ứng các phong trào thi đua "Xanh hóa công sở”, \'\n\n"Gia đình học tập kiểu mẫu”, '
            '"Thanh niên tình nguyện" của tỉnh.\n')
    assert names(text) == ["Xanh hóa công sở", "Gia đình học tập kiểu mẫu", "Thanh niên tình nguyện"]


def test_a_sentence_end_between_quotations_still_breaks_the_list():
    text = ('Tiếp tục phong trào thi đua "Xanh hóa công sở". "Sổ tay hỏi đáp" được phát hành cho cán bộ.\n')
    assert names(text) == ["Xanh hóa công sở"]
