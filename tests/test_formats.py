"""Reading PDF, Word, HTML, Markdown and text files into plain text with pages and sections; a clear
message for each file that cannot be read. Every fixture is made here with the real libraries."""

import io
import zipfile

import docx
import pytest
from fpdf import FPDF

from jmqa.chunking import split_sentences
from jmqa.formats import SUFFIXES, UnreadableFile, check_suffix, extract
from jmqa.types import Document

WRAPPED = ("The city of Jiangmen lies on the western bank of the Pearl River delta, and its many villages "
           "are known across the world for the overseas Chinese who left them to work abroad.")


class GuidePDF(FPDF):
    """Pages with a running header and footer, as a printed guide has."""

    def header(self):
        self.set_font("helvetica", size=9)
        self.cell(0, 8, f"Jiangmen Guide - page {self.page_no()}", new_x="LMARGIN", new_y="NEXT")

    def footer(self):
        self.set_y(-15)
        self.set_font("helvetica", size=9)
        self.cell(0, 8, f"Page {self.page_no()} of 3", align="C")


def paragraph(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def guide_pdf() -> bytes:
    pdf = GuidePDF()
    pdf.set_title("Jiangmen Guide")
    pdf.set_font("helvetica", size=11)
    pages = [
        [WRAPPED, "Trade drove the economic develop-\nment of the region after 1978."],
        ["Kaiping has the diaolou towers, a world heritage site since 2007.", "The towers are tall."],
        ["Taishan is known for its hot springs.", "Visitors come in winter."],
    ]
    for texts in pages:
        pdf.add_page()
        for text in texts:
            paragraph(pdf, text)
    return bytes(pdf.output())


def as_document(found) -> Document:
    return Document("id", found.title or "", found.text, places=found.places)


# ---------------------------------------------------------------- PDF


def test_pdf_pages_without_running_headers_with_wrapped_lines_and_hyphens_joined():
    found = extract("guide.pdf", guide_pdf())
    text = found.text
    assert found.title == "Jiangmen Guide"
    assert "Jiangmen Guide - page" not in text and "of 3" not in text
    assert WRAPPED in text  # the lines of the wrapped paragraph are one line again
    assert [text[s.start:s.end] for s in split_sentences(text, text.index(WRAPPED))][0] == WRAPPED
    assert "economic development of the region" in text
    assert "after 1978.\n\nKaiping has" in text and "2007.\n\nThe towers" in text  # paragraphs stay apart
    doc = as_document(found)
    assert [p.page for p in found.places] == [1, 2, 3]
    assert doc.place_at(text.index("The towers are tall.")).page == 2
    assert doc.place_at(text.index("Taishan")).page == 3
    assert doc.place_at(text.index("Trade drove")).page == 1


def test_a_pdf_with_only_an_owner_password_opens_with_the_empty_password():
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner-only")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 10, "The ferry leaves at nine.")
    assert extract("open.pdf", bytes(pdf.output())).text == "The ferry leaves at nine."


def test_a_pdf_locked_with_a_password_says_to_save_it_without_one():
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 10, "Secret text.")
    with pytest.raises(UnreadableFile, match=r"locked\.pdf is encrypted; save a copy without a password"):
        extract("locked.pdf", bytes(pdf.output()))


def test_a_pdf_without_text_says_ocr_is_not_supported():
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 80, 40)
    with pytest.raises(UnreadableFile, match=r"scan\.pdf has no text layer \(a scanned PDF\?\); OCR is not supported"):
        extract("scan.pdf", bytes(pdf.output()))


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_a_damaged_pdf_says_to_re_export_it(damage):
    raw = guide_pdf()
    raw = raw[: len(raw) // 2] if damage == "truncated" else b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
    message = r"bad\.pdf cannot be read as a PDF \(.+\): the file may be damaged or truncated; re-export it"
    with pytest.raises(UnreadableFile, match=message):
        extract("bad.pdf", raw)


# ---------------------------------------------------------------- Word


def word_file(*, table: bool = True) -> bytes:
    d = docx.Document()
    d.add_heading("Jiangmen Guide", 0)
    d.add_heading("Location", 1)
    d.add_paragraph("Jiangmen lies west of the Pearl River delta.")
    d.add_heading("Towers", 1)
    d.add_paragraph("The diaolou towers of Kaiping are a world heritage site.")
    if table:
        t = d.add_table(rows=1, cols=2)
        t.cell(0, 0).text, t.cell(0, 1).text = "Height", "30 m"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_word_headings_start_sections_and_the_title_is_the_title_paragraph():
    found = extract("guide.docx", word_file())
    doc = as_document(found)
    assert found.title == "Jiangmen Guide"
    assert [p.section for p in found.places] == ["Jiangmen Guide", "Location", "Towers"]
    assert doc.place_at(found.text.index("Jiangmen lies west")).section == "Location"
    assert doc.place_at(found.text.index("The diaolou towers")).section == "Towers"
    assert "\n\nHeight | 30 m" in found.text
    assert "<" not in found.text


def zip_with(entries: dict[str, int]) -> bytes:
    """A zip whose entries are that many zero bytes each, written in slices (small and fast)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, size in entries.items():
            with z.open(name, "w") as f:
                for _ in range(size // 1_000_000):
                    f.write(bytes(1_000_000))
    return buf.getvalue()


def test_a_word_zip_bomb_is_refused_before_it_is_unpacked():
    raw = zip_with({"[Content_Types].xml": 0, "word/document.xml": 20_000_000})
    assert len(raw) < 100_000
    with pytest.raises(UnreadableFile, match=r"bomb\.docx expands to 20 MB when unpacked \(a zip bomb\?\); not read"):
        extract("bomb.docx", raw)
    with pytest.raises(UnreadableFile, match="expands to"):  # the total limit, lowered for the test
        extract("small.docx", word_file(), max_unpacked_bytes=10_000)


@pytest.mark.parametrize("raw, message", [
    (b"just some text", r"not a Word \.docx file \(.+\); save it .* as \.docx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), r"old \.doc, or a password-protected document"),
    (zip_with({"hello.txt": 0}), r"cannot be read as a Word document"),
])
def test_a_file_that_is_not_a_word_document_says_so(raw, message):
    with pytest.raises(UnreadableFile, match=message):
        extract("x.docx", raw)


def test_old_word_and_other_types_are_refused_by_name_with_what_to_do():
    with pytest.raises(UnreadableFile, match=r"old Word \.doc file.*save it as \.docx"):
        check_suffix("report.doc")
    with pytest.raises(UnreadableFile, match=r"sheet\.xlsx is a \.xlsx file, which is not supported; add .*\.pdf"):
        extract("sheet.xlsx", b"PK\x03\x04")
    assert {".txt", ".md", ".pdf", ".docx", ".html", ".htm"} == set(SUFFIXES)


# ---------------------------------------------------------------- HTML

PAGE = b"""<!doctype html><html><head><title>Kaiping towers</title><style>p { color: red }</style>
<script>var secret = "script text";</script></head>
<body><header><h1>Site name</h1><nav><a href="/">Home</a> | <a href="/about">About</a></nav></header>
<aside>Advert text</aside>
<main>
  <h1>The diaolou</h1>
  <p>The towers were built in the 1920s by <b>returning</b> emigrants.<br>They stand in rice fields.</p>
  <iframe src="https://example.com/embed">iframe text</iframe>
  <h2>Visiting</h2>
  <ul><li>Open daily.</li><li>Tickets cost 80 yuan.</li></ul>
  <table><tr><th>Village</th><td>Zili</td></tr></table>
  <button onclick="steal()">Click me</button>
  <!-- a comment -->
</main>
<footer>Copyright footer text</footer></body></html>"""


def test_html_keeps_only_the_main_content_as_plain_text_with_sections():
    found = extract("towers.html", PAGE)
    text = found.text
    assert found.title == "Kaiping towers"
    assert text.startswith("The diaolou\n\nThe towers were built in the 1920s by returning emigrants.\nThey stand")
    for gone in ("Site name", "Home", "Advert", "script text", "color", "iframe text", "Click me", "steal",
                 "onclick", "comment", "footer", "<", ">"):
        assert gone not in text, gone
    assert "Open daily.\n\nTickets cost 80 yuan." in text and "Village | Zili" in text
    doc = as_document(found)
    assert doc.place_at(text.index("They stand")).section == "The diaolou"
    assert doc.place_at(text.index("Tickets")).section == "Visiting"


def test_html_text_is_decoded_by_its_charset_or_as_utf8_or_cp1252():
    latin = "<html><head><meta charset='windows-1252'></head><body><p>Caf\u00e9 cr\u00e8me</p></body></html>"
    assert extract("a.htm", latin.encode("cp1252")).text == "Caf\u00e9 cr\u00e8me"
    assert extract("b.html", "<p>\u6c5f\u95e8\u5e02</p>".encode("utf-8")).text == "\u6c5f\u95e8\u5e02"
    assert extract("c.html", "<p>na\u00efve \u2014 ok</p>".encode("cp1252")).text == "na\u00efve \u2014 ok"
    title_from_h1 = extract("d.html", b"<body><article><h1>Harbour</h1><p>Ships.</p></article></body>")
    assert title_from_h1.title == "Harbour" and title_from_h1.text == "Harbour\n\nShips."


def test_a_page_of_only_scripts_and_menus_has_no_text():
    with pytest.raises(UnreadableFile, match=r"menu\.html has no text"):
        extract("menu.html", b"<nav><a>Home</a></nav><script>x()</script>")


# ---------------------------------------------------------------- text and Markdown


def test_markdown_headings_are_sections_and_the_first_is_the_title():
    md = "# Jiangmen\n\nIntro.\n\n## Food\n\nRice.\n\n```\n# not a heading\n```\n\n### Minor\n\nMore."
    found = extract("notes.md", md.encode())
    assert found.title == "Jiangmen"
    assert [p.section for p in found.places] == ["Jiangmen", "Food"]
    assert as_document(found).place_at(found.text.index("More.")).section == "Food"
    assert extract("notes.txt", md.encode()).places == ()


@pytest.mark.parametrize("name, raw, message", [
    ("empty.txt", b"", r"empty\.txt is empty \(0 bytes\)"),
    ("empty.pdf", b"", r"empty\.pdf is empty \(0 bytes\)"),
    ("blank.md", b"  \n\n", r"blank\.md has no text"),
    ("bin.txt", b"ab\x00cd", r"bin\.txt looks binary"),
    ("bin.html", b"<p>ab\x00cd</p>", r"bin\.html looks binary"),
    ("latin.txt", "Caf\u00e9".encode("latin-1"), r"latin\.txt is not UTF-8 text .*iconv"),
])
def test_unusable_text_files_say_why(name, raw, message):
    with pytest.raises(UnreadableFile, match=message):
        extract(name, raw)


def test_a_utf16_text_file_with_a_byte_order_mark_is_read():
    assert extract("w.txt", "\ufeffHello there.".encode("utf-16")).text == "Hello there."
