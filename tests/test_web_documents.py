"""The Documents panel in a real headless Chromium: upload a PDF, ask about its page 2, see the answer
cited to page 2; remove it again. The app serves a copy of the corpus, never the repository's own."""

import shutil
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_web import browser, launch, save, wait_for_replies  # noqa: F401  (browser is a fixture)

pytestmark = pytest.mark.slow

PAGES = [
    ("Harbour guide", "The old harbour of Gaoyang was dredged in the spring. Fishing boats moor along its "
                      "eastern quay every evening."),
    ("Lighthouse", "The lighthouse of Gaoyang stands on Pine Rock and its lamp is visible for thirty-two "
                   "kilometres. Its keeper's cottage is now a small museum."),
    ("Markets", "The night market opens at six and sells grilled oysters, rice noodles and tea."),
]


def guide_pdf(path: Path) -> Path:
    """A three-page PDF with a running header and footer, one topic per page."""
    from fpdf import FPDF

    class Guide(FPDF):
        def header(self):
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Gaoyang Visitor Guide", align="C", new_x="LMARGIN", new_y="NEXT")

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, f"Page {self.page_no()}", align="C")

    pdf = Guide()
    for heading, body in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 12, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, body)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def own_app(assistant, tmp_path_factory):
    """The real assistant's models over a writable copy of the corpus."""
    from jmqa import Assistant

    corpus = tmp_path_factory.mktemp("docs") / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    qa = Assistant.load(corpus, tmp_path_factory.mktemp("docs-index"), embedder=assistant.embedder,
                        settings=assistant.settings)
    demo, url = launch(qa)
    yield qa, url
    demo.close()


def test_in_a_browser_an_uploaded_pdf_is_indexed_and_answers_cite_its_page(browser, own_app, tmp_path):  # noqa: F811
    qa, url = own_app
    pdf = guide_pdf(tmp_path / "gaoyang-guide.pdf")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#jmqa-chat", timeout=60_000)
    page.click("#jmqa-documents button, #jmqa-documents .label-wrap")
    table = page.locator("#jmqa-doc-table")
    assert "1 document" in table.inner_text()
    page.set_input_files("#jmqa-upload input[type=file]", str(pdf))
    page.wait_for_function("document.querySelector('#jmqa-doc-status').innerText.includes('Added')", timeout=120_000)
    assert "2 documents" in table.inner_text() and "gaoyang-guide.pdf" in table.inner_text()
    assert "Gaoyang Visitor Guide" not in " ".join(c.text for c in qa.index.chunks)  # the running header is gone

    page.fill("#jmqa-input textarea", "How far away can the lighthouse of Gaoyang be seen?")
    page.click("#jmqa-send")
    wait_for_replies(page, 1)
    sources = page.locator("#jmqa-sources")
    assert "thirty-two" in " ".join(sources.locator("mark.jmqa-quote").all_inner_texts())
    assert "page 2" in sources.locator(".jmqa-place").first.inner_text()
    save(page, tmp_path, "documents-upload")

    page.on("dialog", lambda dialog: dialog.accept())  # "Remove gaoyang-guide.pdf from the corpus?"
    page.locator("#jmqa-doc-choice input").fill("gaoyang-guide.pdf")
    page.keyboard.press("Enter")
    page.click("#jmqa-remove")
    page.wait_for_function("document.querySelector('#jmqa-doc-status').innerText.includes('Removed')", timeout=60_000)
    assert "1 document" in table.inner_text()
    assert not (qa.settings.corpus_dir / "gaoyang-guide.pdf").exists()
    page.close()
