import numpy as np

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
