"""Hardening (#7) of the running web chat on 127.0.0.1: hostile documents stay text in a real browser,
no file outside the corpus can be fetched, and 20 sessions at once are all answered, each in its own
conversation, while a full queue says "busy, try again"."""

import html
import json
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from jmqa import Assistant

from .conftest import ROOT, HashEmbedder
from .test_web import CHROMIUM_FLAGS, chromium_path, launch, text_of, wait_for_replies

pytestmark = pytest.mark.slow

HOSTILE = """# Harbour notice

The Jiangmen harbour notice bans the tag <script>window.__jmqaPwned = 1; alert('script')</script> in ferry timetables.

The Jiangmen harbour notice also bans <img src=x onerror="window.__jmqaPwned = 2; alert('img')"> in ferry posters.
"""
SCRIPT_Q = "What does the Jiangmen harbour notice ban in ferry timetables?"
IMG_Q = "What does the harbour notice ban in ferry posters?"


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    (root / "corpus" / "harbour_notice.md").write_text(HOSTILE, encoding="utf-8")
    assistant = Assistant.load(root / "corpus", root / "index", embedder=HashEmbedder())
    demo, url = launch(assistant)
    yield url, root
    demo.close()


# ---------------------------------------------------------------- no markup from documents runs


def test_in_a_browser_script_and_onerror_in_a_document_show_as_text_and_never_run(hostile_app):
    from playwright.sync_api import sync_playwright

    url, _ = hostile_app
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_selector("#jmqa-chat", timeout=60_000)
        # the question itself carries a payload too: the user's own bubble must stay text
        shown = ""  # what each reply showed, in the chat and in the sources panel (the quoted sentence)
        for n, question in enumerate((SCRIPT_Q, IMG_Q, "<img src=x onerror=\"window.__jmqaPwned=3\"> Jiangmen?"), 1):
            page.fill("#jmqa-input textarea", question)
            page.click("#jmqa-send")
            wait_for_replies(page, n)
            shown += page.locator("#jmqa-chat").inner_text() + page.locator("#jmqa-sources").inner_text()
        time.sleep(1.0)  # give any injected handler (an image error) time to fire
        assert "<script>window.__jmqaPwned = 1;" in shown  # shown, as text
        assert '<img src=x onerror="window.__jmqaPwned = 2;' in shown
        assert page.evaluate("window.__jmqaPwned") is None
        assert dialogs == []
        assert page.locator("#jmqa-chat script, #jmqa-sources script, #jmqa-chat img[onerror], "
                            "#jmqa-sources img[onerror]").count() == 0
        browser.close()


# ---------------------------------------------------------------- no file outside the corpus


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_no_file_outside_the_app_can_be_fetched_through_its_file_routes(hostile_app, tmp_path):
    url, root = hostile_app
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7", encoding="utf-8")
    targets = ["/etc/passwd", str(secret), str(root / "corpus" / "harbour_notice.md"),
               str(root / "index" / "CURRENT"), str(ROOT / "pyproject.toml")]
    tricks = []
    for target in targets:
        for prefix in ("file=", "gradio_api/file=", "gradio_api/file/", "file/"):
            tricks += [prefix + target, prefix + urllib.parse.quote(target, safe=""),
                       prefix + "../../../../../.." + target, prefix + "..%2F..%2F..%2F..%2F.." + target]
    tricks += ["static/../../../../../../etc/passwd", "assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
               "gradio_api/upload?path=/etc/passwd", "gradio_api/file=%2Fetc%2Fpasswd"]
    leaked = []
    for trick in tricks:
        status, body = _get(url + trick)
        if b"root:" in body or b"TOP-SECRET-7" in body or b"jmqaPwned" in body or b"[project]" in body \
                or (status == 200 and b"snapshot-" in body):
            leaked.append((trick, status))
    assert leaked == [], leaked


# ---------------------------------------------------------------- load


def test_a_full_queue_answers_busy_try_again(tmp_path):
    """With 2 answering and 2 waiting, further requests are refused at once with "busy, try again"."""
    from gradio_client import Client

    from jmqa.ui import serve

    from .test_web import free_port

    class Slow(Assistant):
        def ask_stream(self, *a, **kw):
            time.sleep(2.0)
            yield from super().ask_stream(*a, **kw)

    base = Assistant.load(ROOT / "corpus", tmp_path / "index", embedder=HashEmbedder())
    slow = Slow(base.index, base.embedder, base.settings)
    port = free_port()
    demo = serve(slow, port=port, block=False, queue_size=2)
    try:
        url = f"http://127.0.0.1:{port}/"
        clients = [Client(url, verbose=False) for _ in range(10)]

        def ask(c):
            try:
                return c.predict("What is Jiangmen known as?", [], "extractive", 5, api_name="/ask")
            except Exception as exc:  # noqa: BLE001 — the test looks at what the client was told
                return exc

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(ask, clients))
        answered = [r for r in results if isinstance(r, dict)]
        busy = [r for r in results if isinstance(r, Exception)]
        assert answered and busy, results
        assert all("full" in str(e).lower() and "try again" in str(e).lower() for e in busy), busy
        assert all(r["citations"] for r in answered)
        # once the queue drains, the next request is answered again
        assert ask(clients[0])["citations"]
    finally:
        demo.close()


SESSIONS, QUESTIONS = 20, 10
ASKED = ["What are Jiangmen's core industries?", "What is Jiangmen known as?",
         "What kind of hub does Jiangmen want to become?", "Who is the mayor of Jiangmen?",
         "Which industries make up its equipment manufacturing?"]


def test_20_sessions_of_10_questions_at_once_are_all_answered_in_their_own_conversations(assistant):
    """The real embedder, extractive answers (the language model would take minutes per answer on 2 cores)."""
    from gradio_client import Client

    demo, url = launch(assistant)
    latencies: list[float] = []
    lock = threading.Lock()

    def session(s: int) -> list[str]:
        client = Client(url, verbose=False)
        asked = []
        for i in range(QUESTIONS):
            question = f"{ASKED[(s + i) % len(ASKED)]} (session {s}, question {i})"
            t0 = time.perf_counter()
            _, chat, _ = client.predict(question, "extractive", 5, api_name="/chat")
            with lock:
                latencies.append(time.perf_counter() - t0)
            asked.append(question)
            users = [html.unescape(text_of(m)) for m in chat if m["role"] == "user"]
            assert users == asked, (s, users)  # this session's questions, all of them, and no other's
            reply = text_of(chat[-1])
            assert "jmqa-answer" in reply or "jmqa-abstain" in reply, reply
        return asked

    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(SESSIONS) as pool:
            futures = [pool.submit(session, s) for s in range(SESSIONS)]
            done = [f.result(timeout=900) for f in futures]
    finally:
        demo.close()
    wall = time.perf_counter() - t0
    assert len(done) == SESSIONS and len(latencies) == SESSIONS * QUESTIONS
    q = statistics.quantiles(latencies, n=100)
    figures = {"requests": len(latencies), "errors": 0, "wall_s": round(wall, 1),
               "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[94], 3),
               "max_s": round(max(latencies), 3), "throughput_rps": round(len(latencies) / wall, 2)}
    out = ROOT / "out" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("load:", figures)


BAD = {"empty": "", "whitespace": " \t ", "NUL bytes": "what\x00is", "binary junk": bytes(range(1, 256)).decode("latin-1"),
       "only punctuation": "?!...", "100 kB": "why " * 25_000}


def test_bad_questions_through_the_running_app_are_messages_not_tracebacks(hostile_app):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, _ = hostile_app
    client = Client(url, verbose=False)
    for name, question in BAD.items():
        with pytest.raises(AppError) as info:
            client.predict(question, [], "extractive", 5, api_name="/ask")
        assert "Traceback" not in str(info.value) and len(str(info.value)) < 400, name
        _, chat, _ = client.predict(question, "extractive", 5, api_name="/chat")
        if question.strip():  # an empty message is ignored by the chat
            assert "jmqa-error" in text_of(chat[-1]) and "Traceback" not in text_of(chat[-1]), name
    for history, mode, k in ((5, "extractive", 5), ("junk", "extractive", 5), ([], "<b>x</b>", 5),
                             ([], "extractive", 10**9), ([], "extractive", -3)):
        with pytest.raises(Exception) as info:  # AppError, or the client's own type check
            client.predict(SCRIPT_Q, history, mode, k, api_name="/ask")
        assert "Traceback" not in str(info.value)
    # and the app still answers
    assert client.predict(SCRIPT_Q, [], "extractive", 5, api_name="/ask")["citations"]


def test_a_huge_paste_is_echoed_short_and_refused(hostile_app):
    from gradio_client import Client

    url, _ = hostile_app
    _, chat, _ = Client(url, verbose=False).predict("why " * 25_000, "extractive", 5, api_name="/chat")
    assert len(text_of(chat[0])) <= 2_100 and "jmqa-error" in text_of(chat[-1])
