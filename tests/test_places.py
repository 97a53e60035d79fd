"""Pages and sections: from a document's places to its citations, what a person sees, and how eval scores them."""

from jmqa.assistant import located
from jmqa.scoring import score_answer
from jmqa.questions import QAItem
from jmqa.render import source_cards
from jmqa.types import Answer, Citation, Document, Place

TEXT = "Page one text.\n\nThe port opened in 1905. It grew fast.\n\nHistory starts here."
DOC = Document("d1", "Guide", TEXT, "guide.pdf", places=(Place(0, page=1), Place(16, page=2, section="Port"),
                                                        Place(58, page=3, section="History")))


def cite(start: int, end: int) -> Citation:
    return Citation("d1", "Guide", start, end, TEXT[start:end])


def test_place_at_takes_the_last_place_starting_at_or_before_the_offset():
    assert DOC.place_at(0).page == 1
    assert DOC.place_at(20) == Place(16, 2, "Port")
    assert DOC.place_at(len(TEXT) - 1).section == "History"
    assert Document("d2", "t", "x").place_at(0) is None


def test_located_fills_page_and_section_and_leaves_unknown_documents_alone():
    start = TEXT.index("The port")
    [c, other] = located([cite(start, start + 24), Citation("zz", "Other", 0, 3, "abc")], {"d1": DOC})
    assert (c.page, c.section, c.place()) == (2, "Port", "page 2, Port")
    assert other.page is None and other.place() == ""


def test_places_survive_the_index_row_round_trip():
    assert Document.from_dict(DOC.to_dict()) == DOC
    assert "places" not in Document("d2", "t", "x").to_dict()  # plain text rows stay as they were


def test_the_sources_panel_names_the_page():
    start = TEXT.index("The port")
    [c] = located([cite(start, start + 24)], {"d1": DOC})
    answer = Answer(text="In 1905 [1].", citations=(c,), abstained=False, confidence=0.9, mode="extractive")
    html = source_cards(answer, {"d1": DOC})
    assert "page 2, Port" in html and "The port opened in 1905." in html


def test_a_quote_on_the_wrong_page_is_not_a_citation_of_the_support():
    item = QAItem.from_row({"id": "p", "question": "When did the port open?", "answers": ["1905"],
                            "support": "The port opened in 1905.", "page": 2})
    quote = "The port opened in 1905."
    right = score_answer(item, "In 1905 [1].", False, [quote], ["d1"], [(2, "Port")])
    wrong = score_answer(item, "In 1905 [1].", False, [quote], ["d1"], [(3, None)])
    assert right["cites_support"] is True and wrong["cites_support"] is False


def test_a_section_is_compared_without_case():
    item = QAItem.from_row({"id": "s", "question": "q?", "answers": ["x"], "support": "The port opened in 1905.",
                            "section": "port"})
    assert score_answer(item, "x [1]", False, ["The port opened in 1905."], ["d1"], [(None, "Port")])["cites_support"]
