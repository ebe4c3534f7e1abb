"""Where a task's subject ends (data/task_verbs.txt), on made-up sentences."""
import pytest

from congvan.extractors.tasks import subject_of


@pytest.mark.parametrize("sentence,subject", [
    # "đúng …" (đúng thành phần, đúng thời gian) is how the action is done, never part of who does it
    ("Các đại biểu dự họp đúng thành phần được mời, đăng ký tham dự trước ngày 10/5/2025.", "Các đại biểu dự họp"),
    ("Các đơn vị được mời cử đại diện dự họp đúng giờ.", "Các đơn vị được mời"),
    ("Các đơn vị thực hiện đúng quy định về báo cáo.", "Các đơn vị"),  # an earlier action word still wins
])
def test_subject_ends_before_a_manner_word(sentence, subject):
    assert subject_of(sentence)[0] == subject
