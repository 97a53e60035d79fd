import numpy as np

from jmqa.evidence import (
    coverage,
    draws_conclusion,
    expected_answer_type,
    has_answer_type,
    idf_weights,
    is_why_question,
    key_terms,
    names_and_numbers,
    stem,
    term_support,
    unnamed,
    words,
)


def test_key_terms_drop_question_words_and_generic_verbs():
    assert key_terms("What does Jiangmen want to become for trains?") == ["jiangmen", "trains"]
    assert key_terms("Who is the mayor of Jiangmen?") == ["mayor", "jiangmen"]


def test_words_are_letters_of_any_alphabet_and_unspaced_scripts_character_by_character():
    assert words("München liegt an der Isar.") == ["münchen", "liegt", "an", "der", "isar"]  # not "nchen"
    assert words("Россия — страна") == ["россия", "страна"]
    assert words("Baden-Württemberg, 3.5 million, 1,000") == ["baden-württemberg", "3.5", "million", "1,000"]
    assert words("江门是侨乡") == ["江", "门", "是", "侨", "乡"] and words("a高铁") == ["a", "高", "铁"]
    assert words("東京タワー") == ["東", "京", "タ", "ワ", "ー"] and words("한국어 문장") == ["한국어", "문장"]
    assert words("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs stay inside the word
    # a question in another alphabet has key terms of its own, so nothing is "fully covered" by default
    assert key_terms("Какое население у Мюнхена?") == ["какое", "население", "мюнхена"]


def test_light_stemmer_matches_inflections():
    assert stem("industries") == stem("industry")
    assert stem("manufacturing") == stem("manufacture")


def test_typed_questions_need_a_sentence_that_can_hold_the_answer():
    assert expected_answer_type("What is Jiangmen's population?") == "number"
    assert expected_answer_type("How many countries?") == "number"
    assert expected_answer_type("When was Jiangmen founded?") == "date"
    assert expected_answer_type("What kind of hub in the Greater Bay Area?") is None
    assert has_answer_type("it totals approximately 4 million", "number")
    assert has_answer_type("over a hundred countries", "number")
    assert not has_answer_type("a railway hub in the west", "number")
    assert has_answer_type("founded in 1925", "date")
    assert not has_answer_type("a railway hub", "date")


def test_term_support_is_exact_stem_or_embedding_cosine():
    vectors = {"trains": np.array([1.0, 0.0]), "railway": np.array([0.8, 0.6]), "food": np.array([0.0, 1.0])}
    assert term_support("industry", ["industries"], vectors) == 1.0
    assert term_support("trains", ["railway", "food"], vectors) == 0.8
    assert term_support("mayor", ["railway"], vectors) == 0.0


def test_coverage_weighs_rare_terms_more():
    weights = idf_weights(["jiangmen", "mayor"], {"jiangmen": 6}, n_chunks=6)
    assert weights["mayor"] > 10 * weights["jiangmen"]
    cov = coverage({"jiangmen": 1.0, "mayor": 0.3}, weights, threshold=0.65)
    assert cov < 0.1
    assert coverage({}, {}, 0.5) == 1.0


def test_a_question_for_the_top_one_needs_a_sentence_that_ranks():
    assert expected_answer_type("Which country has the largest number of overseas Chinese?") == "superlative"
    assert expected_answer_type("Which of those countries has the most of them?") == "superlative"
    assert expected_answer_type("What is the biggest economic contributor to Jiangmen?") == "superlative"
    # a quantifier, not a ranking
    assert expected_answer_type("Where do most overseas Chinese live?") is None
    assert has_answer_type("Secondary sector is the biggest economic contributor", "superlative")
    assert not has_answer_type("dispersed in over a hundred countries and territories", "superlative")


def test_a_why_question_looks_before_a_sentence_that_draws_a_conclusion():
    assert is_why_question("Why is Jiangmen dubbed that?")
    assert not is_why_question("What is Jiangmen dubbed as?")
    assert draws_conclusion("Thus Jiangmen is dubbed as “China’s No. 1 Hometown of Overseas Chinese”.")
    assert draws_conclusion("As a result, exports grew.")
    assert not draws_conclusion("Jiangmen is one of the core cities of the western Pearl River Delta region.")


def test_names_and_numbers_of_a_question_are_its_capitalised_words_and_numbers_not_its_first_word():
    assert names_and_numbers("Besides ships, which vehicles does Jiangmen's sector make in 2020?") == ["Jiangmen", "2020"]
    assert names_and_numbers("What is the capital of France? Online selling grew by 10,000.") == ["France", "10,000"]
    assert names_and_numbers("what are the core industries?") == []


def test_a_name_the_passage_never_mentions_is_unnamed_however_close_in_meaning():
    passage = "The Normans conquered England in 1066. The British exploited India; Céloron led 10,000 men."
    assert unnamed("When did the Normans conquer Scotland?", passage) == ["Scotland"]
    assert unnamed("Did the Normans conquer England in 1067?", passage) == ["1067"]
    # forms, accents, separators and a one-letter misspelling still name the same thing
    assert unnamed("Who did Britain exploit in India?", passage) == []
    assert unnamed("Who was on Celeron's expedition with 10000 men?", passage) == []
    assert unnamed("What did the Normanns conquer?", passage) == []
