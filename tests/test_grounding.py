import json

import numpy as np
import pytest

from jmqa.calibration import Calibration, best_threshold, evidence_is_right, fit_logistic
from jmqa.errors import BadInputError
from jmqa.grounding import check_sentence, lexical_support, numbers_supported

SOURCES = [
    "The core industries are electricals and mechanicals, textile and clothing, food.",
    "The number of overseas Chinese of Jiangmen origin totals approximately 4 million.",
]
VECS = np.eye(2, dtype=np.float32)


def test_lexical_support_ignores_words_taken_from_the_question():
    q = "What are Jiangmen's core industries?"
    assert lexical_support("Core industries are textile and food", SOURCES[0], q) == 1.0
    assert lexical_support("Core industries are tourism and banking", SOURCES[0], q) == 0.0
    assert lexical_support("Jiangmen's core industries", SOURCES[0], q) == 0.0  # repeats the question, says nothing
    # a number that ends a sentence is the same word as one inside it ("totals 28." holds "28")
    assert lexical_support("There are 28 bridges", "The bridges number 28.") == 1.0
    assert lexical_support("It grew by 1.5 or 4,000", "It grew by 1.5, then 4,000.") == 1.0


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


def test_the_answer_stage_is_fitted_on_drafted_answers_and_separates_right_from_wrong():
    from jmqa.calibration import fit_answer

    rng = np.random.default_rng(0)
    right = [i % 2 == 0 for i in range(200)]
    signals = [(float(rng.uniform(-6, -3) if r else rng.uniform(-2, 0)), float(rng.uniform(0.5, 1.0)),
                float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.8, 0.99) if r else rng.uniform(0.3, 0.9)))
               for r in right]
    cal = fit_answer(signals, right, right, fitted_on="synthetic")  # the wrong drafts: unanswerable questions
    assert cal.w_refusal < 0 and cal.w_stated > 0 and cal.fitted_on == "synthetic"
    assert cal.probability(-5.0, 0.8, 0.5, 0.95) >= cal.threshold > cal.probability(-0.5, 0.8, 0.5, 0.5)
    assert cal.probability(-3.0, 0.8, 0.5, 0.95) > cal.probability(-3.0, 0.8, 0.5, 0.4)
    with pytest.raises(BadInputError, match="too few"):
        fit_answer(signals[:5], right[:5], [True] * 5, fitted_on="synthetic")


def test_an_abstention_is_as_sure_as_the_question_is_likely_to_have_no_answer_not_one_minus_p(tmp_path):
    from dataclasses import replace

    from jmqa.calibration import AnswerCalibration, Calibration, fit_abstention, load_calibration

    rng = np.random.default_rng(1)
    answerable = [i % 3 != 0 for i in range(300)]
    # unanswerable questions: the model likelier to refuse, less sure the cited sources say it
    signals = [(float(rng.uniform(-6, -2) if a else rng.uniform(-3, 0)), float(rng.uniform(0.0, 1.0)),
                float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.4, 0.99) if a else rng.uniform(0.01, 0.6)))
               for a in answerable]
    weights = fit_abstention(signals, answerable)
    cal = replace(AnswerCalibration(), abstain=weights)
    assert len(weights) == 5
    assert cal.abstention_probability(-1.0, 0.5, 0.5, 0.05) > 0.8 > 0.2 > cal.abstention_probability(-5.0, 0.5, 0.5, 0.95)
    # unfitted (a file from before), an abstention's confidence is 1 - p as it was
    plain = AnswerCalibration()
    assert plain.abstention_probability(-2.0, 0.5, 0.5, 0.3) == pytest.approx(1.0 - plain.probability(-2.0, 0.5, 0.5, 0.3))
    # it survives the file
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(Calibration(answer=cal).to_dict()), encoding="utf-8")
    assert load_calibration(path).answer == cal
    with pytest.raises(BadInputError, match="too few"):
        fit_abstention(signals[:5], answerable[:5])


def test_an_answer_calibration_fitted_before_the_meaning_check_ignores_it():
    from jmqa.calibration import AnswerCalibration

    old = AnswerCalibration(-0.24, 0.54, 0.72, -0.83, 0.64, "a file without w_stated")
    assert old.probability(-3.0, 1.0, 0.6, 0.99) == old.probability(-3.0, 1.0, 0.6, 0.2)
    # the check's probability is read as log-odds within [0.01, 0.99]
    cal = AnswerCalibration(0.0, 0.0, 0.0, 0.0, 0.5, "stated only", w_stated=1.0)
    assert cal.probability(0.0, 0.0, 0.0, 1.0) == cal.probability(0.0, 0.0, 0.0, 0.99) == pytest.approx(0.99)


def test_a_calibration_file_round_trips_and_a_broken_one_says_what_to_do(tmp_path):
    import json

    from jmqa.calibration import AnswerCalibration, load_calibration

    cal = Calibration(2.0, 1.0, -1.0, 0.4, "test", AnswerCalibration(-0.7, 2.5, 1.5, -1.2, 0.45, "dev"))
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(cal.to_dict()))
    assert load_calibration(path) == cal
    old = {k: v for k, v in cal.to_dict().items() if k != "answer"}  # written before the answer stage
    old["reader"] = {"gate": 0.1}  # the reader stage of the design before it is ignored
    path.write_text(json.dumps(old))
    assert load_calibration(path).answer == AnswerCalibration()
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="jmqa calibrate"):
        load_calibration(path)
    with pytest.raises(BadInputError, match="does not exist"):
        load_calibration(tmp_path / "missing.json")


def test_quantities_compare_by_value_across_languages():
    from jmqa.grounding import number_values, values_supported
    assert number_values("approximately 4 million") == {4e6}
    assert number_values("大约有400万人") == {4e6}
    assert number_values("一百多个国家") == {100.0}
    assert number_values("二十三") == {23.0}
    assert values_supported("江门籍侨胞约400万", SOURCES[1])
    assert not values_supported("江门籍侨胞约40万", SOURCES[1])
