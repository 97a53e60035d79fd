"""The asker's language: a script only one language uses decides it; otherwise fastText's identifier does."""

import pytest

from jmqa.multilingual import detect_language, document_names, script_language


@pytest.mark.parametrize(("text", "language"), [
    ("江门的市长是谁？", "zh"),  # fastText's small model: Tajik (0.65)
    ("江门籍的海外侨胞和港澳台同胞大约有多少人？", "zh"),  # Wu
    ("江门港口每年的货物吞吐量是多少？", "zh"),  # Cantonese
    ("江门的GDP是多少？", "zh"),  # a Latin acronym inside Chinese
    ("東京の人口は？", "ja"),  # kana with Han characters
    ("서울의 인구는?", "ko"),
    ("กรุงเทพมีประชากรเท่าไร", "th"),
])
def test_a_script_that_names_one_language_decides_it(text, language):
    assert script_language(text) == language and detect_language(text) == language


@pytest.mark.parametrize("text", ["What is 江门 known as?", "Qui est le maire ?", "Какие отрасли?", "Why?", "", "42?"])
def test_other_text_is_left_to_the_identifier(text):
    assert script_language(text) is None


def test_the_identifier_still_reads_latin_and_cyrillic_text_and_says_nothing_when_unsure():
    assert detect_language("Qui est le maire de la ville ?") == "fr"
    assert detect_language("Какие отрасли являются основными?") == "ru"
    assert detect_language("What is 江门 known as?") == "en"
    assert detect_language("Why?") is None


def test_the_documents_names_are_their_runs_of_capitalised_words_not_a_sentence_s_first_word():
    texts = ["Lyon is a city of the Auvergne-Rhône-Alpes region. The Romans founded Lyon's first forum. "
             "Moreover, Lyon lies where the Rhône meets the Saône; Saint Jean is its old town. Silk made Lyon rich.",
             "里昂是一座城市。"]
    names = document_names(texts)
    assert names[0] == "Lyon" and {"Auvergne-Rhône-Alpes", "Romans", "Rhône", "Saône", "Saint Jean"} <= set(names)
    assert not {"Moreover", "The", "Silk"} & set(names)  # capitalised only where a sentence opens
    assert document_names(["里昂是一座城市。"]) == [] and document_names(texts, limit=2) == ["Lyon", "Auvergne-Rhône-Alpes"]
