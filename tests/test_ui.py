"""The web chat's logic, drained without a browser: what each stage of a reply shows, sources, escaping, errors."""

from types import SimpleNamespace

import pytest

from jmqa import Answer, Assistant, BadInputError, Citation, Document, ModelUnavailableError, Settings
from jmqa.render import answer_html, esc, highlighted_paragraph, paragraph_around, sources_html
from jmqa.ui import ChatUpdate, ask_json, check_serve_options, stream_chat

TEXT = (
    "Focus:\n\n"
    "Jiangmen is a city. It has <b>factories</b> & ports. The core industries are food and paper.\n\n"
    "Another paragraph about rail."
)
DOC = Document("d1", "Jiangmen notes", TEXT)
QUOTE = "The core industries are food and paper."
START = TEXT.index(QUOTE)
CITATION = Citation("d1", "Jiangmen notes", START, START + len(QUOTE), QUOTE, 0.9)
ANSWER = Answer(text=f"{QUOTE} [1]", citations=(CITATION,), confidence=0.87, mode="extractive",
                timings={"total_s": 0.4})
ABSTENTION = Answer(text="The documents don't say. I found nothing in them that answers this question.",
                    abstained=True, confidence=0.9)


class ScriptedAssistant:
    """Stands in for `Assistant`: replays a script per mode and records what it was asked."""

    def __init__(self, script=None, by_mode=None):
        self.script = script if script is not None else [ANSWER]
        self.by_mode = by_mode or {}
        self.calls = []
        self.settings = Settings(top_k=5)
        self.index = SimpleNamespace(documents={"d1": DOC}, chunks=[object()] * 3)
        self.embedder = SimpleNamespace(model_id="fake-embedder")

    def documents(self):
        return []

    def ask_stream(self, question, history=None, *, k=None, mode=None):
        self.calls.append((question, list(history or []), k, mode))
        if not question.strip():
            raise BadInputError("the question is empty; type a question about the documents")
        for item in self.by_mode.get(mode, self.script):
            if isinstance(item, Exception):
                raise item
            yield item


def drain(assistant, message, history=(), **kw) -> list[ChatUpdate]:
    return list(stream_chat(assistant, message, list(history), **kw))


def test_a_reply_starts_searching_then_streams_the_draft_then_shows_the_checked_answer():
    updates = drain(ScriptedAssistant(["The core ", "industries are food", ANSWER]), "What are the core industries?")
    assert "Searching the documents" in updates[0].reply_html and not updates[0].done
    assert [u.done for u in updates] == [False, False, False, True]
    assert "The core industries are food" in updates[2].reply_html and "jmqa-draft" in updates[2].reply_html
    final = updates[-1]
    assert final.answer is ANSWER and "jmqa-draft" not in final.reply_html  # the draft is replaced


def test_a_draft_shows_its_markers_as_markers_and_stays_escaped():
    html = stream_chat_draft("The <b>core</b> industries [1]")
    assert '<sup class="jmqa-cite">&#91;1&#93;</sup>' in html and "&#60;b&#62;core" in html


def stream_chat_draft(text: str) -> str:
    return drain(ScriptedAssistant([text, ANSWER]), "q")[1].reply_html


def test_the_answer_carries_numbered_citation_markers():
    html = answer_html(ANSWER, {"d1": DOC})
    assert '<sup class="jmqa-cite"' in html and "&#91;1&#93;</sup>" in html
    assert "87% confident" in html


def test_sources_highlight_the_quoted_sentence_inside_its_paragraph_with_the_title():
    html = sources_html(ANSWER, {"d1": DOC}, "What are the core industries?")
    assert "Jiangmen notes" in html
    assert f'<mark class="jmqa-quote">{esc(QUOTE)}</mark>' in html
    assert esc("Jiangmen is a city.") in html  # the paragraph around the quote
    assert "Another paragraph" not in html  # ... and only that paragraph
    assert "for “What are the core industries?”" in html


def test_an_abstention_is_shown_as_a_calm_note_not_as_an_answer():
    final = drain(ScriptedAssistant([ABSTENTION]), "Who is the mayor?")[-1]
    assert 'class="jmqa-abstain"' in final.reply_html and "jmqa-answer" not in final.reply_html
    assert "<strong>The documents don&#39;t say.</strong>" in final.reply_html
    assert "No sources" in final.sources_html and "<mark" not in final.sources_html


def test_document_text_and_model_output_never_run_as_html():
    evil = "<script>alert(1)</script> <img src=x onerror=alert(2)> [1]"
    answer = Answer(text=evil, citations=(CITATION,), confidence=0.5)
    html = answer_html(answer, {"d1": DOC}) + sources_html(answer, {"d1": DOC}, "<i>q</i>")
    assert "<script" not in html and "<img" not in html and "<i>" not in html and "<b>" not in html
    assert "&#60;script&#62;" in html and "&#60;b&#62;factories&#60;/b&#62; &#38; ports" in html
    draft = drain(ScriptedAssistant(["<script>x</script>", ANSWER]), "q")[1].reply_html
    assert "<script" not in draft


def test_markdown_and_latex_characters_are_inert():
    assert esc("*bold* _it_ $x$ `code` # h") == "&#42;bold&#42; &#95;it&#95; &#36;x&#36; &#96;code&#96; &#35; h"


def test_bad_input_is_a_message_in_the_chat_not_a_traceback():
    final = drain(ScriptedAssistant(), "   ")[-1]
    assert final.done and final.answer is None
    assert "jmqa-error" in final.reply_html and "the question is empty" in final.reply_html
    assert "Traceback" not in final.reply_html


def test_an_unavailable_model_falls_back_to_extractive_with_a_clear_note():
    assistant = ScriptedAssistant(by_mode={"generative": ["Draft ", ModelUnavailableError("model file missing")],
                                           "extractive": [ANSWER]})
    updates = drain(assistant, "q", mode="generative")
    assert [c[3] for c in assistant.calls] == ["generative", "extractive"]
    final = updates[-1]
    assert final.answer is ANSWER
    assert "isn&#39;t available" in final.reply_html and "model file missing" in final.reply_html


def test_extractive_mode_failing_is_reported_not_retried():
    assistant = ScriptedAssistant(by_mode={"extractive": [ModelUnavailableError("embedding model missing")]})
    final = drain(assistant, "q", mode="extractive")[-1]
    assert len(assistant.calls) == 1 and "embedding model missing" in final.reply_html


def test_the_conversation_so_far_is_passed_on_with_mode_and_k():
    assistant = ScriptedAssistant()
    drain(assistant, "And then?", [("First?", "An answer. [1]")], mode="extractive", k=3)
    question, history, k, mode = assistant.calls[0]
    assert question == "And then?" and [(t.question, t.answer) for t in history] == [("First?", "An answer. [1]")]
    assert (k, mode) == (3, "extractive")


def test_a_long_paragraph_is_cut_to_the_quote_and_some_context():
    text = " ".join(f"w{i}" for i in range(400)) + " QUOTE HERE. " + " ".join(f"v{i}" for i in range(400))
    s = text.index("QUOTE HERE.")
    html = highlighted_paragraph(text, (0, len(text)), [(1, s, s + len("QUOTE HERE."))], context=40)
    assert html.startswith("…") and html.endswith("…") and len(html) < 400
    assert '<mark class="jmqa-quote">QUOTE HERE.</mark>' in html
    assert "w399" in html and "w100" not in html


def test_the_paragraph_around_a_citation_is_found_by_offsets():
    start, end = paragraph_around(TEXT, CITATION.start, CITATION.end)
    assert TEXT[start:end].startswith("Jiangmen is a city.") and TEXT[start:end].endswith(QUOTE)


def test_ask_json_returns_the_answer_with_its_citations():
    data = ask_json(ScriptedAssistant(), "What are the core industries?", [["q", "a"]], mode="extractive", k=3)
    assert data["text"] == ANSWER.text and data["citations"][0]["quote"] == QUOTE
    assert data["abstained"] is False and "hits" not in data


@pytest.mark.parametrize("kw,match", [({"mode": "clever"}, "mode"), ({"k": 0}, "between 1 and"),
                                      ({"k": 500}, "between 1 and")])
def test_ask_json_rejects_bad_settings(kw, match):
    with pytest.raises(BadInputError, match=match):
        ask_json(ScriptedAssistant(), "q", **kw)


def test_serve_options_are_checked_before_anything_loads():
    assert check_serve_options("127.0.0.1", 7860, None) is None
    assert check_serve_options("0.0.0.0", 80, "ann:pw:with:colons") == ("ann", "pw:with:colons")
    for args in (("127.0.0.1", 0, None), ("127.0.0.1", 7860, "nopassword"), ("", 7860, None)):
        with pytest.raises(BadInputError):
            check_serve_options(*args)


def test_the_app_offers_named_chat_and_ask_endpoints():
    from jmqa.ui import build_app

    demo = build_app(ScriptedAssistant())
    names = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"chat", "ask"} <= names


def test_documents_can_be_added_and_removed_only_where_the_app_allows_it():
    from jmqa.ui import build_app

    def ids(demo):
        return {getattr(block, "elem_id", None) for block in demo.blocks.values()}

    assert {"jmqa-doc-table", "jmqa-upload", "jmqa-remove"} <= ids(build_app(ScriptedAssistant()))
    shown = ids(build_app(ScriptedAssistant(), manage_documents=False))
    assert "jmqa-doc-table" in shown and not {"jmqa-upload", "jmqa-remove"} & shown


def test_the_real_pipeline_drains_with_a_fake_embedder(corpus_copy, tmp_path, fake_embedder):
    assistant = Assistant.load(corpus_copy, tmp_path / "index", embedder=fake_embedder)
    updates = drain(assistant, "What are Jiangmen's core industries?", mode="extractive")
    final = updates[-1]
    assert final.done and final.answer is not None
    if not final.answer.abstained:
        doc = assistant.index.documents[final.answer.citations[0].doc_id]
        c = final.answer.citations[0]
        assert doc.text[c.start : c.end] == c.quote
        assert "<mark" in final.sources_html


def test_a_calibrated_confidence_is_never_shown_as_certainty():
    from dataclasses import replace

    html = answer_html(replace(ANSWER, confidence=0.998), {"d1": DOC})
    assert "99% confident" in html and "100% confident" not in html
