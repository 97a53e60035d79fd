"""The abstention's wording, in every language jmqa knows one for."""

import pytest

from jmqa.abstention import WORDINGS, abstention_text, is_abstention, split_abstention
from jmqa.conversation import retrieval_query, subject_of
from jmqa.multilingual import LANGUAGE_NAMES
from jmqa.render import answer_html
from jmqa.types import Answer, Turn


def test_every_language_the_model_may_answer_in_has_a_wording():
    assert set(LANGUAGE_NAMES) <= set(WORDINGS)


@pytest.mark.parametrize("code", sorted(WORDINGS))
def test_each_wording_reads_back_as_an_abstention_and_splits_at_its_headline(code):
    text = abstention_text(code)
    headline, explanation = WORDINGS[code]
    assert is_abstention(text) and split_abstention(text) == (headline, explanation)


def test_an_unknown_or_missing_language_gets_english():
    assert abstention_text(None) == abstention_text("xx") == abstention_text("en")
    assert abstention_text("en") == "The documents don't say. I found nothing in them that answers this question."


def test_an_answer_is_not_an_abstention():
    assert not is_abstention("文档中提到了四百万人 [1]。") and split_abstention("Yes [1].") == ("Yes [1].", "")


def test_a_follow_up_to_a_chinese_abstention_borrows_nothing_from_it():
    turn = Turn("江门的市长是谁？", abstention_text("zh"))
    assert "文档" not in retrieval_query("那副市长呢？", [turn]) and "文档" not in subject_of(turn)


def test_the_chat_shows_the_headline_in_bold_in_any_language():
    html = answer_html(Answer(text=abstention_text("zh"), abstained=True))
    assert "<strong>文档中没有提到。</strong>我在文档里" in html
    english = answer_html(Answer(text=abstention_text("en"), abstained=True))
    assert "<strong>The documents don&#39;t say.</strong> I found" in english
