"""Why pypdf and BeautifulSoup (issue #15): jmqa's PDF and HTML readers against pdfminer.six, selectolax
and trafilatura, on extraction quality and speed.

pdfminer.six, selectolax and trafilatura are NOT jmqa dependencies: install them into a throwaway folder
(never into jmqa's own environment) and point this script at it:

    pip install --target /tmp/cmpenv pdfminer.six selectolax trafilatura
    python benchmarks/extractors.py                      # --libs /tmp/cmpenv (default), --repeat 3

An alternative whose package is missing is left out of the table. Fixtures, generated in a temporary
folder: the multi-format gold corpus (eval/multiformat/make.py: kaiping-guide.pdf, 5 pages with a running
header "Kaiping Visitor Guide" and a "Page N" footer; jiangmen-science.html, an article in <main> with a
script, nav, header, aside and footer around it) and the ingest benchmark's seeded fixtures
(benchmarks/ingest_formats.py: a 200-page PDF with a running header and footer, a 100-page HTML page).

Measured, per extractor (text compared after collapsing whitespace):
- gold: the share of the `support` sentences of eval/multiformat/questions.jsonl found verbatim, for the
  PDF on the page the question names;
- generated: the share of the fixture's own paragraphs found verbatim (the PDF's regenerated from the
  seed, on their page; the HTML's read from its <main> with a regex);
- running lines: how many times the header and a "Page N" footer appear in the text (0 is right);
- chrome: which parts of the page around <main> (script, nav, header, aside, footer) leak into the text;
- seconds to extract the 200-page PDF and the 100-page HTML from bytes in memory, best of --repeat.
Markdown tables to stdout, JSON to out/bench/extractors.json.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import io
import json
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench"
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "eval" / "multiformat"))

import ingest_formats as gen  # noqa: E402  (the 200-page PDF and 100-page HTML fixtures)
import make as gold_make  # noqa: E402  (the gold corpus)

BIG_PDF_PAGES, BIG_HTML_PAGES, WORDS = 200, 100, 350
BIG_PDF_HEADER = "Pearl River Delta Field Report - benchmark fixture"
FOOTER = re.compile(r"\bPage \d+\b")

# Text of the page around <main>, by part; none of it is in the article (checked in main()).
GOLD_CHROME = {
    "script": ["1,500 metres", "rotateBanner", "console.log"],
    "nav": ["Home", "Topics", "About us", "Contact"],
    "header": ["a community site about science", "Subscribe"],
    "aside": ["More from around the web", "Five-day weather forecast", "Daya Bay Reactor Neutrino Experiment homepage"],
    "footer": ["All rights reserved", "Privacy policy", "Terms of use"],
}
BIG_CHROME = {
    "script": ["var banner", "analytics", "console.log"],
    "nav": ["Home", "Topics", "Travel", "About", "Contact"],
    "header": ["Delta Notes - a community site", "Subscribe"],
    "aside": ["More from around the web", "Ten rainy-day recipes"],
    "footer": ["All rights reserved", "Privacy"],
}


def norm(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- extractors: bytes -> pages (PDF) or text (HTML)


def jmqa_pdf(raw: bytes) -> list[str]:
    """jmqa's reader (pypdf + its line joining and running header/footer rules), split back into pages."""
    from jmqa.formats import extract

    found = extract("x.pdf", raw)
    starts = [p.start for p in found.places] + [len(found.text)]
    return [found.text[a:b] for a, b in zip(starts, starts[1:])]


def pypdf_plain(raw: bytes) -> list[str]:
    """pypdf's own extract_text, page by page, no rules on top."""
    import pypdf

    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(raw)).pages]


def pdfminer_pages(raw: bytes) -> list[str]:
    """pdfminer.six's extract_text, one call per page (page_numbers=[i])."""
    from pdfminer.high_level import extract_text
    from pdfminer.pdfpage import PDFPage

    count = sum(1 for _ in PDFPage.get_pages(io.BytesIO(raw)))
    return [extract_text(io.BytesIO(raw), page_numbers=[i]) for i in range(count)]


def pdfminer_whole(raw: bytes) -> list[str]:
    """pdfminer.six's extract_text in one call (one parse; pages split at its form feeds): the timed way."""
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(raw)).split("\f")


def jmqa_html(raw: bytes) -> str:
    """jmqa's reader: BeautifulSoup (html.parser) + its main-content rules."""
    from jmqa.formats import extract

    return extract("x.html", raw).text


def bs4_main(raw: bytes) -> str:
    """BeautifulSoup's plain get_text of <main>, without jmqa's rules (the library alone, like selectolax's row)."""
    from bs4 import BeautifulSoup

    main = BeautifulSoup(raw, "html.parser").find("main")
    return main.get_text(" ") if main else ""


def selectolax_main(raw: bytes) -> str:
    """selectolax (lexbor): the plain text of <main>."""
    from selectolax.lexbor import LexborHTMLParser

    main = LexborHTMLParser(raw.decode("utf-8")).css_first("main")
    return main.text(separator=" ") if main else ""


def trafilatura_text(raw: bytes) -> str:
    """trafilatura.extract with its defaults (its own main-content detection; no <main> needed)."""
    import trafilatura

    return trafilatura.extract(raw.decode("utf-8")) or ""


PDF_EXTRACTORS = {  # name: (quality function, timed function, module that must be importable)
    "jmqa (pypdf + jmqa's rules)": (jmqa_pdf, jmqa_pdf, "pypdf"),
    "pypdf extract_text alone": (pypdf_plain, pypdf_plain, "pypdf"),
    "pdfminer.six extract_text": (pdfminer_pages, pdfminer_whole, "pdfminer"),
}
HTML_EXTRACTORS = {
    "jmqa (BeautifulSoup + jmqa's rules)": (jmqa_html, "bs4"),
    "BeautifulSoup get_text of <main>": (bs4_main, "bs4"),
    "selectolax text of <main>": (selectolax_main, "selectolax"),
    "trafilatura extract": (trafilatura_text, "trafilatura"),
}

# ---------------------------------------------------------------- fixtures and gold


def gold_supports(doc: str) -> list[tuple[str, int | None]]:
    """(support sentence, page) of the gold questions on `doc`, each once."""
    out: dict[str, int | None] = {}
    for line in (ROOT / "eval" / "multiformat" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("doc") != doc or not row.get("support"):
            continue
        sup = row["support"] if isinstance(row["support"], list) else [row["support"]]
        for s in sup:
            out[norm(s)] = row.get("page")
    return list(out.items())


def big_pdf_paragraphs() -> list[tuple[str, int]]:
    """The 200-page PDF's paragraphs with their page, regenerated from its seed as gen.make_pdf draws them."""
    rng = random.Random(gen.SEEDS["pdf"])
    return [(norm(p), n) for n in range(1, BIG_PDF_PAGES + 1) for p in gen.page_paragraphs(rng, WORDS)]


def main_paragraphs(raw: bytes) -> tuple[list[str], str]:
    """The <p> texts inside <main> (regex, no parser under test) and the raw <main> itself."""
    page = raw.decode("utf-8")
    main = page[page.index("<main>"):page.index("</main>")]
    paragraphs = [norm(html.unescape(re.sub(r"<[^>]+>", "", p))) for p in re.findall(r"<p>(.*?)</p>", main, re.S)]
    return paragraphs, html.unescape(main)


def best_of(fn, raw: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(raw)
        times.append(time.perf_counter() - t)
    return min(times)


# ---------------------------------------------------------------- measures


def pdf_quality(pages: list[str], truth: list[tuple[str, int]], header: str) -> dict:
    pages = [norm(p) for p in pages]
    found = sum(1 for s, n in truth if n <= len(pages) and s in pages[n - 1])
    whole = " ".join(pages)
    return {"found": found, "of": len(truth), "header": whole.count(header), "footer": len(FOOTER.findall(whole))}


def html_quality(text: str, truth: list[str], chrome: dict[str, list[str]]) -> dict:
    text = norm(text)
    leaked = {part: [m for m in markers if re.search(rf"\b{re.escape(m)}", text)] for part, markers in chrome.items()}
    return {"found": sum(1 for s in truth if s in text), "of": len(truth),
            "leaked": {part: ms for part, ms in leaked.items() if ms}}


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def pct(q: dict) -> str:
    return f"{q['found']}/{q['of']} ({100 * q['found'] / q['of']:.0f}%)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libs", default="/tmp/cmpenv", help="folder the alternatives were pip-installed into (--target)")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per extractor; the best is kept")
    args = ap.parse_args()
    if Path(args.libs).is_dir():
        sys.path.append(args.libs)  # after jmqa's own environment, so its pypdf/bs4 are the ones measured

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gold_make.make_pdf(gold_make.parse_source(gold_make.SOURCES / "kaiping-guide.md"), folder / "gold.pdf")
        gold_make.make_html(gold_make.parse_source(gold_make.SOURCES / "jiangmen-science.md"), folder / "gold.html")
        gen.make_pdf(folder / "big.pdf", BIG_PDF_PAGES, WORDS)
        gen.make_html(folder / "big.html", BIG_HTML_PAGES, WORDS)
        raw = {name: (folder / name).read_bytes() for name in ("gold.pdf", "gold.html", "big.pdf", "big.html")}

    gold_pdf_truth = gold_supports(gold_make.PDF_NAME)
    big_pdf_truth = big_pdf_paragraphs()
    gold_html_truth = [s for s, _ in gold_supports(gold_make.HTML_NAME)]
    big_html_truth, big_main = main_paragraphs(raw["big.html"])
    _, gold_main = main_paragraphs(raw["gold.html"])
    for main_text, chrome in ((gold_main, GOLD_CHROME), (big_main, BIG_CHROME)):
        inside = [m for ms in chrome.values() for m in ms if re.search(rf"\b{re.escape(m)}", main_text)]
        assert not inside, f"chrome markers found in the article itself: {inside}"

    results: dict = {"python": platform.python_version(), "repeat": args.repeat, "pdf": {}, "html": {}}
    versions = {}
    for module, dist in (("pypdf", "pypdf"), ("bs4", "beautifulsoup4"), ("pdfminer", "pdfminer.six"),
                         ("selectolax", "selectolax"), ("trafilatura", "trafilatura")):
        if available(module):
            versions[dist] = getattr(__import__(module), "__version__", "?")
    results["versions"] = versions

    for name, (quality_fn, timed_fn, module) in PDF_EXTRACTORS.items():
        if not available(module):
            continue
        results["pdf"][name] = {
            "gold": pdf_quality(quality_fn(raw["gold.pdf"]), gold_pdf_truth, gold_make.PDF_HEADER),
            "big": pdf_quality(timed_fn(raw["big.pdf"]), big_pdf_truth, BIG_PDF_HEADER),
            "seconds_200_pages": round(best_of(timed_fn, raw["big.pdf"], args.repeat), 3),
        }
    for name, (fn, module) in HTML_EXTRACTORS.items():
        if not available(module):
            continue
        results["html"][name] = {
            "gold": html_quality(fn(raw["gold.html"]), gold_html_truth, GOLD_CHROME),
            "big": html_quality(fn(raw["big.html"]), big_html_truth, BIG_CHROME),
            "seconds_gold": round(best_of(fn, raw["gold.html"], args.repeat), 6),
            "seconds_100_pages": round(best_of(fn, raw["big.html"], args.repeat), 5),
        }

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "extractors.json").write_text(json.dumps(results, indent=2), encoding="utf-8")

    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items()), "\n")
    print("| PDF extractor | gold sentences on their page (5-page guide) | header / \"Page N\" lines (of 5 / 5) "
          "| generated paragraphs on their page (200 pages) | header / \"Page N\" lines (of 200 / 200) "
          "| s, 200 pages (best of %d) |" % args.repeat)
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results["pdf"].items():
        g, b = r["gold"], r["big"]
        print(f"| {name} | {pct(g)} | {g['header']} / {g['footer']} | {pct(b)} | {b['header']} / {b['footer']} "
              f"| {r['seconds_200_pages']:.2f} |")
    print()
    print("| HTML extractor | gold sentences (article page) | chrome leaked (article page) "
          "| generated paragraphs (100-page page) | chrome leaked (100-page page) | ms, article page | "
          "ms, 100-page page (best of %d) |" % args.repeat)
    print("| --- | ---: | --- | ---: | --- | ---: | ---: |")
    for name, r in results["html"].items():
        g, b = r["gold"], r["big"]

        def leaks(q):
            return "; ".join(f"{part}: {', '.join(ms)}" for part, ms in q["leaked"].items()) or "none"

        print(f"| {name} | {pct(g)} | {leaks(g)} | {pct(b)} | {leaks(b)} | {1000 * r['seconds_gold']:.2f} "
              f"| {1000 * r['seconds_100_pages']:.1f} |")


if __name__ == "__main__":
    main()
