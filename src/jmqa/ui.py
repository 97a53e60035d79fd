"""The web chat: a Gradio shell over `stream_chat`, a plain generator that tests drain without a browser.

Everything a person sees is rendered from escaped text (render.py): document text and model output
never run as HTML. Gradio is imported only by `build_app`, so the terminal chat can share the rest.
"""

import argparse
import ipaddress
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .conversation import as_turns
from .errors import BadInputError, JmqaError
from . import openai_api
from .ingest import SUFFIXES
from .render import (
    added_html,
    answer_html,
    documents_html,
    draft_html,
    esc,
    header_html,
    notes_html,
    shorten,
    sources_html,
    sources_placeholder,
    status_html,
)
from .replies import Failure, Fallback, answer_events, fallback_note
from .types import Answer

if TYPE_CHECKING:
    import gradio as gr

    from .assistant import Assistant

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MODES = ("auto", "extractive", "generative")
MAX_K = 50
QUEUE_SIZE = 64  # requests waiting for the answerer; more are refused as "busy" rather than piling up
MODE_LABELS = (
    ("Auto — written answer when the local model is available", "auto"),
    ("Extractive — quote the documents' own sentences", "extractive"),
    ("Generative — the local model writes, every sentence checked", "generative"),
)
# Questions that fit any corpus: an overview, a list, a yes/no, one in Chinese, one the documents rarely answer.
EXAMPLES = (
    "Give me an overview of the documents.",
    "What are the main industries?",
    "Is the city a transport hub?",
    "这些文件主要讲什么？",
    "Who is the mayor?",
)


# --------------------------------------------------------------------------- the answer stream


# --------------------------------------------------------------------------- the chat generator


@dataclass(frozen=True)
class ChatUpdate:
    """One state of the reply to a chat message: HTML for the reply bubble and the sources panel.

    Drafts have `done=False`; the last update has `done=True` and the `answer` (None after a failure).
    """

    reply_html: str
    sources_html: str
    done: bool = False
    answer: Answer | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def stream_chat(assistant: "Assistant", message: str, history: Iterable[Any] | None = None, *, mode: str | None = None,
                k: int | None = None) -> Iterator[ChatUpdate]:
    """Reply to `message` in the conversation `history` ((question, answer) pairs): first a
    "searching" placeholder, then the growing draft, then the verified answer with its sources."""
    history = as_turns(history)
    documents = assistant.index.documents
    searching = status_html("Searching the documents…")
    yield ChatUpdate(searching, sources_placeholder("Looking for the passages that answer this…"))
    draft, notes = "", []
    for event in answer_events(assistant, message, history, mode=mode, k=k):
        if isinstance(event, str):
            draft += event
            yield ChatUpdate(draft_html(draft), sources_placeholder("Sources appear when the answer has been checked."),
                             notes=tuple(notes))
        elif isinstance(event, Fallback):
            notes.append(fallback_note(event))
            draft = ""
            yield ChatUpdate(notes_html(notes) + searching, sources_placeholder("Looking for the passages…"),
                             notes=tuple(notes))
        elif isinstance(event, Failure):
            yield ChatUpdate(notes_html(notes) + failure_html(event), sources_placeholder(""), done=True,
                             notes=tuple(notes))
            return
        else:
            yield ChatUpdate(notes_html(notes) + answer_html(event, documents), sources_html(event, documents, message),
                             done=True, answer=event, notes=tuple(notes))
            return


# --------------------------------------------------------------------------- the stream's own notes


def failure_html(failure: Failure) -> str:
    title = "That question can't be asked as it is" if failure.bad_input else "Something stopped the answer"
    return (f'<div class="jmqa-error"><strong>{esc(title)}.</strong> {esc(failure.message)}</div>')


# --------------------------------------------------------------------------- the JSON API


def ask_json(assistant: "Assistant", question: str, history: Any = None, mode: str | None = None,
             k: int | None = None) -> dict[str, Any]:
    """The answer as a JSON-ready dict (the API endpoint): text, citations, abstained, confidence, ….
    `history` is a list of [question, answer] pairs or {"question", "answer"} dicts."""
    if mode is not None and mode not in MODES:
        raise BadInputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not (1 <= k <= MAX_K)):
        raise BadInputError(f"k (passages to read) must be a whole number between 1 and {MAX_K}, not {k!r}")
    if history is not None and not isinstance(history, (list, tuple)):
        raise BadInputError(f"history must be a list of [question, answer] pairs, not {type(history).__name__}")
    fallback = None
    final: Answer | None = None
    for event in answer_events(assistant, question, history or [], mode=mode, k=k):
        if isinstance(event, Fallback):
            fallback = fallback_note(event)
        elif isinstance(event, Failure):
            raise BadInputError(event.message) if event.bad_input else JmqaError(event.message)
        elif isinstance(event, Answer):
            final = event
    assert final is not None  # answer_events always ends with an Answer or a Failure
    data = final.to_dict()
    data.pop("hits", None)  # retrieval internals; the citations are the answer's evidence
    if fallback:
        data["note"] = fallback
    return data


# --------------------------------------------------------------------------- the Gradio app

CSS = resources.files("jmqa").joinpath("static/chat.css").read_text(encoding="utf-8")  # the chat's look

_PLACEHOLDER = (
    "**Ask about the documents, in your language.**<br>"
    "Every answer quotes the sentences it rests on; when the documents don't say, you'll be told so."
)


def build_app(assistant: "Assistant", *, examples: Sequence[str] = EXAMPLES, concurrency: int = 2,
              manage_documents: bool = True) -> "gr.Blocks":
    """The chat UI over `stream_chat`, plus a named API endpoint `/ask` returning answer JSON.

    Each browser session keeps its own conversation in `gr.State`; nothing is shared between sessions.
    With `manage_documents` the Documents panel can add and remove files (the corpus is shared by all).
    """
    import gradio as gr

    default_mode = assistant.settings.answer_mode
    default_k = assistant.settings.top_k

    def respond(message: str, session: dict[str, Any], mode: str, k: float):
        message = (message or "").strip()
        session = _copy_session(session)
        chat = session["chat"]
        if not message:
            yield "", chat, gr.skip(), session
            return
        # a huge paste is refused below; echo only its start, so the chat state stays small
        chat.append({"role": "user", "content": esc(shorten(message, assistant.settings.max_question_chars + 1))})
        chat.append({"role": "assistant", "content": ""})
        for update in stream_chat(assistant, message, session["turns"], mode=mode, k=int(k)):
            chat[-1] = {"role": "assistant", "content": update.reply_html}
            if update.done:
                session["sources"].append(update.sources_html)
                if update.answer is not None:
                    session["turns"].append((message, update.answer.text))
            yield "", chat, update.sources_html, session

    def ask_example(sample: list[str], session: dict[str, Any], mode: str, k: float):
        yield from respond(sample[0], session, mode, k)

    def show_sources(session: dict[str, Any], evt: gr.SelectData):
        """Clicking an earlier answer shows its sources again."""
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        replies = [i for i, m in enumerate(session["chat"]) if m["role"] == "assistant"]
        if index in replies and replies.index(index) < len(session["sources"]):
            return session["sources"][replies.index(index)]
        return gr.skip()

    def clear():
        return "", [], sources_html(None, {}), _new_session()

    def document_names() -> list[str]:
        return [d.name for d in assistant.documents()]

    def add_documents(files: list[str] | None, progress=gr.Progress()):
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        names = [Path(f).name for f in files]
        progress(0.1, desc=f"Reading and indexing {len(files)} file{'s' * (len(files) != 1)}…")
        try:
            result = assistant.add_documents(files, names)
        except JmqaError as exc:
            return None, gr.skip(), f'<p class="jmqa-bad">{esc(str(exc))}</p>', gr.skip(), gr.skip()
        progress(1.0, desc="Indexed")
        return (None, documents_html(assistant.documents()), added_html(result),
                gr.update(choices=document_names(), value=None), header_html(assistant))

    def remove_document(name: str | None):
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            removed = assistant.remove_document(name)
        except JmqaError as exc:
            return gr.skip(), f'<p class="jmqa-bad">{esc(str(exc))}</p>', gr.skip(), gr.skip()
        return (documents_html(assistant.documents()), f'<p class="jmqa-ok">Removed <b>{esc(removed)}</b></p>',
                gr.update(choices=document_names(), value=None), header_html(assistant))

    def ask(question: str, history: list | None = None, mode: str = default_mode, k: int = default_k) -> dict:
        """Answer one question about the documents. history: earlier [question, answer] pairs.
        mode: auto | extractive | generative. k: passages to retrieve. Returns the answer as JSON:
        text (with [n] markers), citations (doc_id, title, start, end, quote, score), abstained, confidence."""
        try:
            return ask_json(assistant, question, history, mode=mode, k=_whole(k) if k else None)
        except JmqaError as exc:
            raise gr.Error(str(exc), print_exception=False) from exc

    # analytics off: the app runs offline and sends nothing anywhere
    with gr.Blocks(title="jmqa — ask your documents", analytics_enabled=False) as demo:
        session = gr.State(_new_session())
        header = gr.HTML(header_html(assistant), elem_id="jmqa-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chatbot = gr.Chatbot(
                    elem_id="jmqa-chat", label="Conversation", show_label=False, height="58vh", min_height=340,
                    placeholder=_PLACEHOLDER, latex_delimiters=[], feedback_options=None, buttons=[],
                    sanitize_html=True, autoscroll=True,
                )
                with gr.Row(equal_height=True):
                    message = gr.Textbox(
                        elem_id="jmqa-input", label="Question", show_label=False, placeholder="Ask about the documents…",
                        scale=5, min_width=160, max_lines=4, autofocus=True, container=False,
                        max_length=assistant.settings.max_question_chars,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=72, elem_id="jmqa-send")
                example_set = gr.Dataset(components=[message], samples=[[q] for q in examples], label="Try one",
                                         elem_id="jmqa-examples", samples_per_page=len(examples), layout="gallery")
                with gr.Row():
                    clear_button = gr.Button("Clear chat", variant="secondary", size="sm", scale=0, min_width=110,
                                             elem_id="jmqa-clear")
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(sources_html(None, {}), elem_id="jmqa-sources", label="Sources")
                with gr.Accordion("Documents", open=False, elem_id="jmqa-documents"):
                    doc_table = gr.HTML(documents_html(assistant.documents()), elem_id="jmqa-doc-table")
                    doc_status = gr.HTML("", elem_id="jmqa-doc-status")
                    if manage_documents:
                        upload = gr.File(label="Add documents: PDF, Word (.docx), web pages (.html), .md, .txt",
                                         file_count="multiple", file_types=list(SUFFIXES), type="filepath",
                                         elem_id="jmqa-upload")
                        doc_choice = gr.Dropdown(document_names(), value=None, label="Remove a document",
                                                 elem_id="jmqa-doc-choice")
                        remove = gr.Button("Remove", variant="stop", size="sm", elem_id="jmqa-remove")
                with gr.Accordion("Settings", open=False, elem_id="jmqa-settings"):
                    mode = gr.Radio([(label, value) for label, value in MODE_LABELS], value=default_mode,
                                    label="Answer mode")
                    k = gr.Slider(1, 10, value=default_k, step=1, label="Passages to read (k)")

        chat_inputs = [message, session, mode, k]
        chat_outputs = [message, chatbot, sources, session]
        options = {"concurrency_limit": concurrency, "concurrency_id": "answer", "show_progress": "hidden",
                   "trigger_mode": "once"}  # a second click while a reply streams is ignored
        send.click(respond, chat_inputs, chat_outputs, api_name="chat", **options)
        message.submit(respond, chat_inputs, chat_outputs, api_visibility="private", **options)
        example_set.click(ask_example, [example_set, session, mode, k], chat_outputs, api_visibility="private",
                          **options)
        chatbot.select(show_sources, [session], [sources], api_visibility="private", queue=False)
        clear_button.click(clear, None, [message, chatbot, sources, session], api_visibility="private", queue=False)
        chatbot.clear(clear, None, [message, chatbot, sources, session], api_visibility="private", queue=False)
        gr.api(ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="answer")
        if manage_documents:
            changes = {"api_visibility": "private", "concurrency_limit": 1, "concurrency_id": "documents"}
            upload.upload(add_documents, [upload], [upload, doc_table, doc_status, doc_choice, header], **changes)
            remove.click(remove_document, [doc_choice], [doc_table, doc_status, doc_choice, header],
                         js="(name) => (name && confirm(`Remove ${name} from the corpus?`)) ? name : null",
                         **changes)
        # the language model may have loaded (or failed to) since start-up: each page shows the current state
        # ... and the corpus as it is now (another visitor or `jmqa add` may have changed it)
        demo.load(lambda: (header_html(assistant), documents_html(assistant.documents())), None,
                  [header, doc_table], api_visibility="private", queue=False)
    return demo


def theme() -> "gr.themes.Base":
    """A calm theme with the system's own fonts: nothing is fetched from a font service (the app runs offline)."""
    import gradio as gr

    sans = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=sans, font_mono=mono)


def _whole(k: Any) -> Any:
    """k as sent by an API client ("5", 5.0) as an int; anything else is left for ask_json to refuse."""
    try:
        return int(k) if float(k) == int(float(k)) else k
    except (TypeError, ValueError, OverflowError):
        return k


def _new_session() -> dict[str, Any]:
    return {"chat": [], "turns": [], "sources": []}


def _copy_session(session: dict[str, Any] | None) -> dict[str, Any]:
    session = session or _new_session()
    return {"chat": list(session.get("chat", [])), "turns": list(session.get("turns", [])),
            "sources": list(session.get("sources", []))}


# --------------------------------------------------------------------------- serving


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 to share)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--auth", metavar="USER:PASSWORD",
                        help="require this login (basic auth); required with a non-loopback --host or --share")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs --auth)")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BadInputError("--auth takes USER:PASSWORD, e.g. --auth alice:s3cret")
    return user, password


def check_serve_options(host: str, port: int, auth: str | None, share: bool = False) -> tuple[str, str] | None:
    """The login credentials; BadInputError for a port or --auth that cannot work, and for a chat
    reachable from other machines (a non-loopback host, or --share) without a login."""
    if not (1 <= port <= 65535):
        raise BadInputError(f"--port must be between 1 and 65535, not {port}")
    if not host.strip():
        raise BadInputError("--host is empty; use 127.0.0.1 (this machine) or 0.0.0.0 (every interface)")
    credentials = parse_auth(auth)
    if credentials is None and (share or not _is_loopback(host)):
        where = "with --share" if share else f"on {host}"
        raise BadInputError(f"serving {where} would let anyone who can reach it use the chat; "
                            "add --auth USER:PASSWORD, or serve on 127.0.0.1")
    return credentials


def serve(assistant: "Assistant", *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, auth: str | None = None,
          share: bool = False, block: bool = True, queue_size: int = QUEUE_SIZE) -> "gr.Blocks":
    """Launch the web chat; blocks until interrupted unless `block=False` (then the app is returned running).
    At most `queue_size` requests wait for the answerer; beyond that a request is told the app is busy."""
    credentials = check_serve_options(host, port, auth, share)
    # the corpus is shared by every visitor: only its owner (this machine, or behind a login) may change it
    demo = build_app(assistant, manage_documents=_is_loopback(host) or credentials is not None)
    demo.queue(max_size=queue_size)
    # the OpenAI chat API beside the chat, its routes first so that they are matched before the app's own
    api = openai_api.routes(assistant, credentials)
    demo.launch(server_name=host, server_port=port, auth=credentials, share=share, prevent_thread_lock=not block,
                app_kwargs={"routes": list(api)},
                quiet=False,
                show_error=False, css=CSS, theme=theme(), footer_links=["api"],
                auth_message="jmqa: log in with the user and password you were given.")
    return demo


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
