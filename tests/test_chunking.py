from hypothesis import given, settings
from hypothesis import strategies as st

from jmqa.chunking import chunk, is_heading, paragraphs, split_sentences
from jmqa.ingest import content_hash
from jmqa.types import Document

from .conftest import SOURCE_CORPUS


def doc_of(text: str) -> Document:
    return Document(doc_id=content_hash(text)[:16], title="T", text=text, path="t.txt")


def source_document() -> Document:
    from jmqa.ingest import load_corpus

    return load_corpus(SOURCE_CORPUS)[0]


def test_chunk_offsets_point_into_the_document():
    doc = source_document()
    chunks = chunk(doc, size=400, overlap=1)
    assert len(chunks) >= 5
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text


def test_chunks_hold_whole_sentences_within_the_size():
    doc = source_document()
    sentences = {doc.text[s.start : s.end] for s in split_sentences(doc.text)}
    for c in chunk(doc, size=500, overlap=0):
        assert len(c.text) <= 500 or len(split_sentences(c.text)) == 1
        for s in split_sentences(c.text):
            assert c.text[s.start : s.end] in sentences


def test_heading_becomes_context_not_a_chunk():
    doc = source_document()
    chunks = chunk(doc)
    assert all(c.context == "Focus of Development" for c in chunks)
    assert not any(c.text.startswith("Focus of Development") for c in chunks)


def test_abbreviations_and_numbers_do_not_end_a_sentence():
    text = "Jiangmen is dubbed “China’s No. 1 Hometown of Overseas Chinese”. Dr. Li agrees, e.g. on trade. Next one."
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == ["Jiangmen is dubbed “China’s No. 1 Hometown of Overseas Chinese”.", "Dr. Li agrees, e.g. on trade.", "Next one."]


def test_chinese_sentences_split_at_chinese_full_stops():
    text = "江门是侨乡。江门有很多产业！真的吗？"
    assert [text[s.start : s.end] for s in split_sentences(text)] == ["江门是侨乡。", "江门有很多产业！", "真的吗？"]


def test_overlap_repeats_sentences_between_neighbouring_chunks():
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(20))
    chunks = chunk(doc_of(text), size=150, overlap=1)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end  # shares the last sentence of a


def test_paragraphs_and_headings():
    text = "# Title\n\nFirst para. Still first.\n\n\nSecond para."
    assert [text[p.start : p.end] for p in paragraphs(text)] == ["# Title", "First para. Still first.", "Second para."]
    assert is_heading("Focus of Development:")
    assert not is_heading("This is a sentence.")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80),
            st.sampled_from(["Mr. Smith went.", "No. 1 city.", "\n\n", "\n", "Heading:\n", "它很好。", "Why? Because!"]),
        ),
        max_size=30,
    ),
    st.integers(min_value=100, max_value=800),
    st.integers(min_value=0, max_value=3),
)
def test_property_every_chunk_is_an_exact_slice(parts, size, overlap):
    text = "".join(parts)
    doc = doc_of(text)
    for c in chunk(doc, size=size, overlap=overlap):
        assert doc.text[c.start : c.end] == c.text
        assert c.text.strip() == c.text and c.text
    for s in split_sentences(text):
        assert 0 <= s.start < s.end <= len(text)
