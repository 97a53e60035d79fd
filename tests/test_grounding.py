from dataclasses import replace

import numpy as np
import pytest

from jmqa.calibration import Calibration, best_threshold, evidence_is_right, fit_logistic
from jmqa.grounding import answer_sentences, check_sentence, cite, lexical_support, numbers_supported, strip_markers

SOURCES = [
    "The core industries are electricals and mechanicals, textile and clothing, food.",
    "The number of overseas Chinese of Jiangmen origin totals approximately 4 million.",
]
VECS = np.eye(2, dtype=np.float32)


def test_answer_sentences_keep_their_markers():
    got = answer_sentences("Electricals and food [1]. About 4 million [2, 1].")
    assert got == [("Electricals and food.", [1]), ("About 4 million.", [2, 1])]
    assert strip_markers("railway hub [1].") == "railway hub."


def test_lexical_support_ignores_words_taken_from_the_question():
    q = "What are Jiangmen's core industries?"
    assert lexical_support("Core industries are textile and food", SOURCES[0], q) == 1.0
    assert lexical_support("Core industries are tourism and banking", SOURCES[0], q) == 0.0
    assert lexical_support("Jiangmen's core industries", SOURCES[0], q) == 0.0  # repeats the question, says nothing


def test_numbers_must_come_from_the_source_and_keep_their_noun():
    assert numbers_supported("approximately 4 million", SOURCES[1])
    assert not numbers_supported("10 million", SOURCES[1])
    assert not numbers_supported("4 billion", SOURCES[1])
    assert not numbers_supported("4 million countries", SOURCES[1], question="In how many countries?")


def test_check_sentence_picks_the_backing_source_and_rejects_inventions():
    ok = check_sentence("textile and food", np.array([1.0, 0.0]), SOURCES, VECS, question="What industries?")
    assert ok.supported and ok.source == 0
    made_up = check_sentence("The mayor is Li Wei", np.array([0.3, 0.3]), SOURCES, VECS, question="Who is the mayor?")
    assert not made_up.supported
    wrong_number = check_sentence("about 10 million", np.array([0.0, 1.0]), SOURCES, VECS, question="How many?")
    assert not wrong_number.supported and not wrong_number.numbers_ok


def test_cite_renumbers_markers_in_order_of_use_and_drops_unsupported():
    q = "What?"
    checks = [
        check_sentence("About 4 million overseas Chinese", np.array([0.0, 1.0]), SOURCES, VECS, question=q),
        check_sentence("The mayor is Li Wei", np.array([0.2, 0.2]), SOURCES, VECS, question=q),
        check_sentence("Textile and food industries", np.array([1.0, 0.0]), SOURCES, VECS, question=q),
    ]
    text, used = cite(checks)
    assert text == "About 4 million overseas Chinese [1]. Textile and food industries [2]."
    assert used == [1, 0]


def test_logistic_fit_separates_and_threshold_balances_both_kinds_of_error():
    x = np.array([[0.0, 0.1], [0.1, 0.2], [0.2, 0.1], [0.8, 0.7], [0.9, 0.6], [1.0, 0.8]])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    w, b = fit_logistic(x, y, l2=1e-2)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert (p[y == 1] > 0.5).all() and (p[y == 0] < 0.5).all()
    t = best_threshold(p, y.astype(bool), y.astype(bool))
    assert p[y == 0].max() < t <= p[y == 1].min()
    cal = Calibration(float(w[0]), float(w[1]), b, t)
    assert cal.probability(1.0, 0.8) > cal.probability(0.0, 0.1)


def test_evidence_is_right_folds_quotes_and_accepts_lists():
    assert evidence_is_right(["Thus Jiangmen is dubbed as “China’s No. 1”."], "Thus Jiangmen is dubbed as \"China's No. 1\".")
    assert evidence_is_right(["b sentence."], ["a sentence.", "b sentence."])
    assert not evidence_is_right(["other."], None)


def test_a_copied_phrase_is_found_word_for_word_and_spelled_as_the_source_spells_it():
    from jmqa.grounding import quoted_phrase

    q = quoted_phrase("Textile and Clothing [1].", SOURCES)
    assert q is not None and q.source == 0 and q.text == "textile and clothing"
    assert SOURCES[0][q.start : q.end] == q.text
    assert quoted_phrase("approximately 4 million", SOURCES).source == 1
    # not a copy: a paraphrase, a word cut in half, a phrase of function words, the refusal
    assert quoted_phrase("textiles and clothes", SOURCES) is None
    assert quoted_phrase("extile", SOURCES) is None
    assert quoted_phrase("and the", SOURCES) is None
    assert quoted_phrase("unanswerable", SOURCES) is None


def synthetic_rows(seed, refusal, question=lambda answerable, rng: None):
    """200 calibration rows, half answerable, whose evidence features say little; `refusal` and
    `question` draw the reader-stage features from (answerable, rng)."""
    from jmqa.calibration import CalibrationRow

    rng = np.random.default_rng(seed)
    return [CalibrationRow((rng.uniform(0.6, 1.0), rng.uniform(0.3, 0.7)), i % 2 == 0, i % 2 == 0,
                           refusal(i % 2 == 0, rng), question(i % 2 == 0, rng)) for i in range(200)]


def test_calibration_reader_stage_is_fitted_when_the_refusal_probability_separates_right_from_wrong():
    from jmqa.calibration import CalibrationRow, fit_rows

    # the model's refusal probability says a lot
    rows = synthetic_rows(0, lambda answerable, rng: float(rng.uniform(0.01, 0.2) if answerable else rng.uniform(0.3, 0.9)))
    cal = fit_rows(rows, fitted_on="synthetic")
    assert cal.reader.w_refusal < 0 and cal.reader.threshold > 0
    p_ok = cal.reader.probability(cal.probability(0.8, 0.5), 0.05)
    p_refused = cal.reader.probability(cal.probability(0.8, 0.5), 0.8)
    assert p_ok >= cal.reader.threshold > p_refused
    # without the model's probabilities only stage 1 is fitted, and it passes through unchanged
    plain = fit_rows([CalibrationRow(r.features, r.right, r.answerable, None) for r in rows], fitted_on="synthetic")
    assert plain.reader.threshold == 0.0 and plain.reader_gate == plain.threshold


def test_calibration_reader_stage_weighs_the_question_log_probability_when_it_separates():
    from jmqa.calibration import fit_rows

    # the refusal probability says little; how expected the question was after the passage says a lot
    rows = synthetic_rows(1, lambda answerable, rng: float(rng.uniform(0.05, 0.5)),
                          lambda answerable, rng: float(rng.normal(-1.0, 0.3) if answerable else rng.normal(-2.5, 0.3)))
    reader = fit_rows(rows, fitted_on="synthetic").reader
    assert reader.w_question > 0 and reader.question_mean == pytest.approx(-1.75, abs=0.1)
    p1 = 0.7
    assert reader.probability(p1, 0.2, -1.0) >= reader.threshold > reader.probability(p1, 0.2, -2.5)
    # a backend that cannot measure it (None) is taken at the fitted mean
    assert reader.probability(p1, 0.2, None) == reader.probability(p1, 0.2, reader.question_mean)


def test_a_calibration_file_round_trips_and_a_broken_one_says_what_to_do(tmp_path):
    import json

    import pytest

    from jmqa.calibration import ReaderCalibration, load_calibration
    from jmqa.errors import BadInputError

    cal = Calibration(2.0, 1.0, -1.0, 0.4, "test", ReaderCalibration(0.2, 1.1, -0.7, 0.3, 0.45, 0.8, -1.6))
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(cal.to_dict()))
    assert load_calibration(path) == cal
    old = {k: v for k, v in cal.to_dict().items() if k != "reader"}  # written before the reader stage
    path.write_text(json.dumps(old))
    assert load_calibration(path).reader == ReaderCalibration()
    older = cal.to_dict()  # written before the question log-probability joined the reader stage
    del older["reader"]["w_question"], older["reader"]["question_mean"]
    path.write_text(json.dumps(older))
    assert load_calibration(path).reader == replace(cal.reader, w_question=0.0, question_mean=0.0)
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="jmqa calibrate"):
        load_calibration(path)
    with pytest.raises(BadInputError, match="does not exist"):
        load_calibration(tmp_path / "missing.json")


def test_a_phrase_that_passes_over_the_named_thing_asked_for_is_caught():
    from jmqa.grounding import passes_over_the_named_one

    sentence = ("advancing the portside logistics zone of the Greater Guanghai Bay Economic Zone and of the Heshan "
                "Logistics Hub Centre.")
    q = "Which logistics hub centre does Jiangmen plan to advance?"
    assert passes_over_the_named_one(q, "the Greater Guanghai Bay Economic Zone", sentence)
    assert not passes_over_the_named_one(q, "the Heshan Logistics Hub Centre", sentence)
    # the sentence names no such thing, or the kind is a common noun there: the phrase stands
    assert not passes_over_the_named_one("Which river flows through Lyon?", "the Rhône", "Lyon is on the Rhône.")
    assert not passes_over_the_named_one("Which city hosted the Games?", "Paris", "It was Paris, the capital city.")
    assert not passes_over_the_named_one("What are the core industries?", "food", "The core industries are food.")


def test_a_copied_phrase_that_only_repeats_the_question_is_not_an_answer():
    from jmqa.grounding import echoes_the_question

    assert echoes_the_question("What are the stages in a compound engine called?", "stages")
    assert echoes_the_question("What is Cultural Imperialism often referred to as?", "cultural imperialism")
    assert not echoes_the_question("What are the stages in a compound engine called?", "high and low pressure")
    assert not echoes_the_question("What city is the capital of Victoria?", "Melbourne")
    # a question that offers a choice is answered with one of its own words
    assert not echoes_the_question("Was the plague spread faster or slower?", "faster")
    assert not echoes_the_question("Which is it?", "the")  # nothing said, nothing repeated
