"""Render the multi-format gold corpus (PDF, DOCX, HTML) from eval/multiformat/sources/*.md.

    python eval/multiformat/make.py OUT_DIR

Source format (see the comment at the top of each source): "# " is the document title, "## " starts a
section, blank lines separate blocks, the lines of a block (one sentence per line) are joined with single
spaces into one paragraph, a block of "|" lines is a table, <!-- ... --> comments are dropped.

The output is byte-stable: fixed PDF creation date and metadata, fixed DOCX core properties and zip
timestamps, and a hand-written HTML page.
"""

from __future__ import annotations

import html
import io
import re
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
FIXED_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

PDF_NAME = "kaiping-guide.pdf"
DOCX_NAME = "xinhui-and-taishan.docx"
HTML_NAME = "jiangmen-science.html"

# Page chrome. None of it may answer a question (check.py verifies no gold support contains it).
PDF_HEADER = "Kaiping Visitor Guide"
PDF_FOOTER = "Page {n}"


def parse_source(path: Path) -> dict:
    """Return {"title": str, "intro": [block], "sections": [(heading, [block])]}.

    A block is ("p", text) or ("table", [[cell, ...], ...]).
    """
    text = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.S)
    doc = {"title": None, "intro": [], "sections": []}
    current = doc["intro"]
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        if all(line.startswith("|") for line in block):
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block]
            current.append(("table", rows))
        else:
            current.append(("p", " ".join(line.strip() for line in block)))
        block.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("## "):
            flush()
            doc["sections"].append((line[3:].strip(), []))
            current = doc["sections"][-1][1]
        elif line.startswith("# "):
            flush()
            doc["title"] = line[2:].strip()
        elif not line.strip():
            flush()
        else:
            block.append(line.strip())
    flush()
    return doc


# ---------------------------------------------------------------------------------------------- PDF


def make_pdf(src: dict, out: Path) -> None:
    from fpdf import FPDF

    class Guide(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "I", 9)
            self.set_text_color(110, 110, 110)
            self.cell(0, 8, PDF_HEADER, align="R")
            self.ln(14)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 9)
            self.set_text_color(110, 110, 110)
            self.cell(0, 8, PDF_FOOTER.format(n=self.page_no()), align="C")
            self.set_text_color(0, 0, 0)

    pdf = Guide(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(src["title"])
    pdf.set_author("jmqa evaluation")
    pdf.set_creator("eval/multiformat/make.py")
    pdf.set_auto_page_break(True, margin=22)
    pdf.set_margins(25, 15, 25)
    assert not src["intro"], "PDF text must be inside '## ' sections (one per page)"
    for number, (heading, blocks) in enumerate(src["sections"], start=1):
        pdf.add_page()  # one section per page, so every fact lands on a known page
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 9, heading, align="L")
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 11)
        for kind, body in blocks:
            assert kind == "p", "no tables in the PDF source"
            body.encode("latin-1")  # core fonts only: fail loudly on anything else
            pdf.multi_cell(0, 6, body, align="L")
            pdf.ln(4)
        if pdf.page_no() != number:
            raise SystemExit(f"section {heading!r} overflowed its page; shorten it")
    pdf.output(str(out))


# --------------------------------------------------------------------------------------------- DOCX


def _stable_zip(data: bytes) -> bytes:
    """Re-pack a zip with fixed member timestamps (python-docx stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def make_docx(src: dict, out: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = src["title"]
    props.author = "jmqa evaluation"
    props.last_modified_by = "jmqa evaluation"
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    props.comments = ""
    props.keywords = ""
    props.subject = ""

    document.add_heading(src["title"], level=0)  # style "Title"

    def add_blocks(blocks) -> None:
        for kind, body in blocks:
            if kind == "p":
                document.add_paragraph(body)
            else:
                table = document.add_table(rows=len(body), cols=len(body[0]))
                table.style = "Table Grid"
                for r, row in enumerate(body):
                    for c, cell in enumerate(row):
                        table.cell(r, c).text = cell
                        if r == 0:
                            for run in table.cell(r, c).paragraphs[0].runs:
                                run.bold = True

    add_blocks(src["intro"])
    for heading, blocks in src["sections"]:
        document.add_heading(heading, level=1)
        add_blocks(blocks)

    buf = io.BytesIO()
    document.save(buf)
    out.write_bytes(_stable_zip(buf.getvalue()))


# --------------------------------------------------------------------------------------------- HTML

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Jiangmen Science Notes</title>
<style>
  body {{ font-family: Georgia, serif; margin: 0; }}
  nav ul {{ list-style: none; display: flex; gap: 1em; }}
  main {{ max-width: 42em; margin: 0 auto; }}
  aside {{ font-size: 0.85em; border-top: 1px solid #ccc; }}
</style>
<script>
  // Site analytics and banner rotation (not part of the article).
  var siteBanner = "Old note: the JUNO detector was once planned 1,500 metres underground.";
  function rotateBanner() {{
    document.getElementById("banner").textContent = siteBanner;
  }}
  window.addEventListener("load", function () {{ console.log("page loaded"); }});
</script>
</head>
<body>
<nav>
  <ul>
    <li><a href="/">Home</a></li>
    <li><a href="/topics/">Topics</a></li>
    <li><a href="/travel/">Travel</a></li>
    <li><a href="/about/">About us</a></li>
    <li><a href="/contact/">Contact</a></li>
  </ul>
</nav>
<header>
  <p id="banner" class="banner">Jiangmen Science Notes - a community site about science, travel and weekend trips</p>
  <button type="button" onclick="rotateBanner(); alert('Thanks for subscribing to our newsletter!');">Subscribe</button>
</header>
<main>
{main}
</main>
<aside>
  <h3>More from around the web</h3>
  <ul>
    <li><a href="https://example.com/weather">Five-day weather forecast for Guangzhou</a></li>
    <li><a href="https://example.com/recipes">Ten easy recipes for a rainy weekend</a></li>
    <li><a href="https://example.com/daya-bay">Daya Bay Reactor Neutrino Experiment homepage</a></li>
    <li><a href="https://example.com/phones">Best budget phones of the year</a></li>
  </ul>
</aside>
<footer>
  <p>Copyright 2026 Jiangmen Science Notes. All rights reserved.</p>
  <p><a href="/privacy/">Privacy policy</a> | <a href="/terms/">Terms of use</a></p>
</footer>
</body>
</html>
"""


def make_html(src: dict, out: Path) -> None:
    parts = [f"<article>\n<h1>{html.escape(src['title'])}</h1>"]

    def add_blocks(blocks) -> None:
        for kind, body in blocks:
            assert kind == "p", "no tables in the HTML source"
            parts.append(f"<p>{html.escape(body, quote=False)}</p>")

    add_blocks(src["intro"])
    for heading, blocks in src["sections"]:
        parts.append(f"<section>\n<h2>{html.escape(heading, quote=False)}</h2>")
        add_blocks(blocks)
        parts.append("</section>")
    parts.append("</article>")
    page = HTML_TEMPLATE.format(title=html.escape(src["title"]), main="\n".join(parts))
    out.write_bytes(page.encode("utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out_dir = Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    make_pdf(parse_source(SOURCES / "kaiping-guide.md"), out_dir / PDF_NAME)
    make_docx(parse_source(SOURCES / "xinhui-and-taishan.md"), out_dir / DOCX_NAME)
    make_html(parse_source(SOURCES / "jiangmen-science.md"), out_dir / HTML_NAME)
    for name in (PDF_NAME, DOCX_NAME, HTML_NAME):
        print(out_dir / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
