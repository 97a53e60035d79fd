"""The web chat as its users meet it: `gradio_client` against the running app on 127.0.0.1, and a real
headless Chromium that clicks, reads and takes screenshots (desktop and phone width)."""

import shutil
import socket
import time
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KNOWN_AS = "What is Jiangmen known as?"
HUB = "What kind of hub does Jiangmen want to become?"
MORE = "Tell me more about that."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(assistant, auth=None):
    from jmqa.ui import serve

    port = free_port()
    demo = serve(assistant, host="127.0.0.1", port=port, auth=auth, block=False)
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def app_url(assistant):
    demo, url = launch(assistant)
    yield url
    demo.close()


@pytest.fixture
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def text_of(message) -> str:
    content = message["content"]
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


# ---------------------------------------------------------------- gradio_client


def test_the_app_listens_on_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")


def test_the_named_ask_endpoint_returns_the_answer_and_its_citations(client, assistant):
    data = client.predict("What are Jiangmen's core industries?", [], "extractive", 5, api_name="/ask")
    assert not data["abstained"] and "[1]" in data["text"]
    assert any("core industries" in c["quote"] for c in data["citations"])
    for c in data["citations"]:
        assert assistant.index.documents[c["doc_id"]].text[c["start"] : c["end"]] == c["quote"]
        assert c["title"]


def test_the_ask_endpoint_says_when_the_documents_do_not_say(client):
    data = client.predict("Who is the mayor of Jiangmen?", [], "extractive", 5, api_name="/ask")
    assert data["abstained"] and data["citations"] == [] and "don't say" in data["text"]


def test_the_ask_endpoint_answers_a_followup_from_the_history_it_is_given(app_url):
    from gradio_client import Client

    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    first_a = a.predict(KNOWN_AS, [], "extractive", 5, api_name="/ask")
    first_b = b.predict(HUB, [], "extractive", 5, api_name="/ask")
    more_a = a.predict(MORE, [[KNOWN_AS, first_a["text"]]], "extractive", 5, api_name="/ask")
    more_b = b.predict(MORE, [[HUB, first_b["text"]]], "extractive", 5, api_name="/ask")
    assert any("Overseas Chinese" in c["quote"] for c in more_a["citations"]), more_a["text"]
    assert any("hub" in c["quote"] for c in more_b["citations"]), more_b["text"]
    assert not any("hub" in c["quote"] for c in more_a["citations"])


def test_a_bad_question_is_an_error_message_not_a_traceback(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict("   ", [], "extractive", 5, api_name="/ask")


def test_an_openai_client_gets_a_written_answer_in_chinese_and_a_followup_in_its_context(app_url):
    """The real model through the OpenAI API: a Chinese question streamed back in Chinese with its English
    sources, then a follow-up that leans on it."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{app_url}v1", api_key="any", max_retries=0, timeout=300)
    question = "江门的核心产业有哪些？"
    chunks = list(client.chat.completions.create(model="jmqa", stream=True,
                                                 messages=[{"role": "user", "content": question}]))
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    extra = chunks[-1].model_extra["jmqa"]
    assert not extra["abstained"] and extra["mode"] == "generative"
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in content.split("\n\n---\n")[0]) > 5
    # cited to a sentence on the industries (since the check in translation, the neighbouring "major
    # manufacturing base, in which a number of industries are found" rather than "The core industries are":
    # a known regression of citation precision, in the session note)
    assert any("industr" in c["quote"] for c in extra["citations"])
    follow = client.chat.completions.create(model="jmqa", messages=[
        {"role": "user", "content": HUB}, {"role": "assistant", "content": "A railway hub [1]."},
        {"role": "user", "content": MORE}])
    assert any("hub" in c["quote"] for c in follow.model_extra["jmqa"]["citations"])


def test_two_sessions_keep_their_own_conversations(app_url):
    from gradio_client import Client

    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    a.predict(KNOWN_AS, "extractive", 5, api_name="/chat")
    b.predict(HUB, "extractive", 5, api_name="/chat")
    _, chat_a, sources_a = a.predict(MORE, "extractive", 5, api_name="/chat")
    _, chat_b, sources_b = b.predict(MORE, "extractive", 5, api_name="/chat")
    asked_a = [text_of(m) for m in chat_a if m["role"] == "user"]
    asked_b = [text_of(m) for m in chat_b if m["role"] == "user"]
    assert asked_a == [KNOWN_AS, MORE] and asked_b == [HUB, MORE]  # each sees only its own questions
    assert "Overseas Chinese" in text_of(chat_a[-1]) and "Overseas Chinese" in sources_a
    assert "hub" in text_of(chat_b[-1]) and "hub" in sources_b


def test_basic_auth_keeps_strangers_out(assistant):
    from gradio_client import Client

    demo, url = launch(assistant, auth="ann:s3cret")
    try:
        with pytest.raises(Exception):
            Client(url, verbose=False)
        data = Client(url, auth=("ann", "s3cret"), verbose=False).predict(
            "What are Jiangmen's core industries?", [], "extractive", 5, api_name="/ask")
        assert data["citations"]
    finally:
        demo.close()


# ---------------------------------------------------------------- a real browser


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("Chromium not found: install the Debian packages chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; .ci/run does this)")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


# Record each state the last reply passes through, so the test can tell that it streamed.
WATCH_REPLIES = """
window.__jmqaStates = [];
new MutationObserver(() => {
  const bots = document.querySelectorAll('#jmqa-chat [data-testid="bot"]');
  const last = bots[bots.length - 1];
  if (!last) return;
  const state = last.querySelector('.jmqa-draft') ? 'draft' : last.querySelector('.jmqa-status') ? 'searching'
              : last.querySelector('.jmqa-answer, .jmqa-abstain, .jmqa-error') ? 'final' : 'other';
  if (window.__jmqaStates[window.__jmqaStates.length - 1] !== state) window.__jmqaStates.push(state);
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def wait_for_replies(page, n: int, timeout_s: float = 240) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('#jmqa-chat .jmqa-answer, #jmqa-chat .jmqa-abstain, #jmqa-chat .jmqa-error')"
        f".length >= {n}", timeout=timeout_s * 1000)


def open_sources(page, phone: bool):
    """The sources of the last answer: the side panel on a desktop; on a phone, the answer's own
    "Sources" fold, opened the way a person would, by tapping it."""
    if not phone:
        return page.locator("#jmqa-sources")
    fold = page.locator("#jmqa-chat details.jmqa-inline-sources").last
    fold.locator("summary").click()
    return fold


def save(page, tmp_path: Path, name: str) -> Path:
    """Screenshots go to the test's own folder and to out/screenshots/ (kept after the run, git-ignored)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = ROOT / "out" / "screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, keep / path.name)
    return path


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_in_a_browser_an_example_streams_a_cited_answer_and_a_followup_stays_in_context(
        browser, app_url, tmp_path, viewport):
    phone = viewport["width"] < 640
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#jmqa-chat", timeout=60_000)
    assert "jmqa" in page.title()
    assert page.locator("#jmqa-status").inner_text().count("Corpus") == 1
    page.evaluate(WATCH_REPLIES)

    assert page.get_by_text("Give me an overview of the documents.", exact=True).first.is_visible()  # examples
    page.fill("#jmqa-input textarea", "What are Jiangmen's core industries?")
    page.click("#jmqa-send")
    wait_for_replies(page, 1)
    states = page.evaluate("window.__jmqaStates")
    assert "searching" in states and states[-1] == "final", states  # it showed progress, then settled

    marker = page.locator("#jmqa-chat sup.jmqa-cite").first
    assert marker.is_visible() and marker.inner_text() == "[1]"
    sources = open_sources(page, phone)
    quotes = sources.locator("mark.jmqa-quote")
    assert quotes.first.is_visible()
    assert any("core industries" in t for t in quotes.all_inner_texts()), quotes.all_inner_texts()
    assert sources.locator(".jmqa-title").first.inner_text() == "Jiangmen development focus"
    if phone:  # nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.fill("#jmqa-input textarea", "And which ones make up its equipment manufacturing?")
    page.click("#jmqa-send")
    wait_for_replies(page, 2)
    time.sleep(0.3)
    sources = open_sources(page, phone)
    assert sources.locator("mark.jmqa-quote").first.is_visible()
    sources.locator("mark.jmqa-quote").first.scroll_into_view_if_needed()
    highlighted = " ".join(sources.locator("mark.jmqa-quote").all_inner_texts())
    assert "shipbuilding" in highlighted, highlighted
    shot = save(page, tmp_path, f"chat-{'phone' if phone else 'desktop'}")
    if not phone:  # clicking an earlier answer brings its sources back
        page.locator('#jmqa-chat [data-testid="bot"]').first.click()
        page.wait_for_function("document.querySelector('#jmqa-sources').innerText.includes('core industries?')",
                               timeout=10_000)
    assert shot.stat().st_size > 10_000
    context.close()


def test_in_a_browser_an_abstention_reads_as_such_and_sessions_do_not_mix(browser, app_url, tmp_path):
    first = browser.new_context(viewport={"width": 1280, "height": 900})
    page = first.new_page()
    page.goto(app_url)
    page.wait_for_selector("#jmqa-chat", timeout=60_000)
    page.fill("#jmqa-input textarea", "Who is the mayor of Jiangmen?")
    page.keyboard.press("Enter")
    wait_for_replies(page, 1)
    note = page.locator("#jmqa-chat .jmqa-abstain")
    assert note.is_visible() and "The documents don't say" in note.inner_text()
    assert "No sources" in page.locator("#jmqa-sources").inner_text()
    save(page, tmp_path, "abstention-desktop")

    other = browser.new_context(viewport={"width": 1280, "height": 900})
    stranger = other.new_page()
    stranger.goto(app_url)
    stranger.wait_for_selector("#jmqa-chat", timeout=60_000)
    assert "mayor" not in stranger.locator("#jmqa-chat").inner_text()

    page.click("#jmqa-clear")
    page.wait_for_function("!document.querySelector('#jmqa-chat').innerText.includes('mayor')", timeout=10_000)
    first.close()
    other.close()
