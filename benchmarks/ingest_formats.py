"""Reading PDF, Word and HTML (issue #15): extraction and indexing throughput per format, and peak memory.

Generates deterministic fixtures in a temporary folder (seeded prose from a fixed word list, no network):
a PDF of `--pages` pages (fpdf2, Helvetica, a running header and a "Page N" footer), a DOCX of half as
many pages (python-docx, a Heading 1 every 5 pages, explicit page breaks) and an HTML page with as much
text as the DOCX (nav, header, footer and scripts around a <main>), each ~`--words` words a page.

Each format is measured in two child processes of its own, so that each peak RSS is its own: one only
extracts (`read_file`), the other extracts, then chunks, embeds and builds the index (`Index.build`, the
default embedder, warmed up before timing). A last child times `scan_corpus` on a folder holding the three
files: what every `Assistant.load` (every `jmqa ask`/`chat`/`serve` start) pays, since it reads every file
to hash its text. Markdown table to stdout, JSON to out/bench/ingest_formats.json.

    python benchmarks/ingest_formats.py                 # 200-page PDF, 100-page DOCX and HTML (~10 min on 2 cores)
    python benchmarks/ingest_formats.py --pages 6       # a quick try
    python benchmarks/ingest_formats.py --keep DIR      # also keep the fixtures in DIR
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench"
FORMATS = ("pdf", "docx", "html")
FILE_NAMES = {"pdf": "report.pdf", "docx": "handbook.docx", "html": "article.html"}
SEEDS = {"pdf": 15_001, "docx": 15_002, "html": 15_003}
FIXED_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
CHAPTER_EVERY = 5  # pages

# ---------------------------------------------------------------- prose (seeded, from a fixed word list)

NOUNS = """river harbour village council bridge market teacher engineer farmer museum library station
factory garden orchard valley mountain coast island festival archive report survey committee province
district railway canal tower temple school hospital student merchant sailor painter doctor family
neighbour season harvest storm flood drought road tunnel ferry lighthouse clinic laboratory experiment
detector reactor neutrino signal pattern measurement sample record budget policy method problem solution
history tradition language dialect recipe kitchen restaurant tea rice fish silk porcelain letter journey
visitor guide map window roof courtyard wall gate lantern boat engine machine network cable battery""".split()
ADJECTIVES = """old new quiet busy narrow wide ancient modern careful patient bright dark warm cold wet dry
small large local foreign early late public private simple complex useful rare common heavy light
famous forgotten hidden open steady rapid slow gentle strong fragile northern southern eastern western
coastal rural urban annual monthly detailed rough precise""".split()
VERBS = """built repaired visited described measured recorded opened closed crossed followed studied
carried planted harvested painted designed tested replaced improved explained collected counted checked
delivered protected restored moved watched welcomed reached changed supported connected divided shared
returned prepared published translated surveyed mapped cleaned ordered""".split()
ADVERBS = """slowly quickly carefully quietly often rarely always usually finally suddenly gradually
eventually recently clearly partly mostly nearly""".split()
PREPOSITIONS = "near beside across along behind under over through around between beyond inside toward".split()
OPENERS = """In the spring, | By the end of the year, | According to the survey, | After the storm, | Since then,
| For many years, | In the morning, | Before the railway came, | During the festival, | At the same time,
| On most days, | As the report explains,""".replace("\n", " ").split(" | ")
PLACES = """Jiangmen Kaiping Taishan Xinhui Heshan Enping Guangzhou Foshan Macau Zhuhai Shenzhen Zhaoqing""".split()
CONJUNCTIONS = ["and", "but", "while", "because", "although", "so", "until", "after"]


def _noun_phrase(rng: random.Random) -> str:
    det = rng.choice(["the", "the", "a", "this", "every", "one", "their", "our"])
    if det == "a" or rng.random() < 0.5:
        adj = rng.choice(ADJECTIVES)
        det = "an" if det == "a" and adj[0] in "aeiou" else det
        phrase = f"{det} {adj} {rng.choice(NOUNS)}"
    else:
        noun = rng.choice(NOUNS)
        phrase = f"{'an' if det == 'a' and noun[0] in 'aeiou' else det} {noun}"
    if rng.random() < 0.2:
        phrase += f" of {rng.choice(PLACES)}"
    return phrase


def _clause(rng: random.Random) -> str:
    words = [_noun_phrase(rng)]
    if rng.random() < 0.3:
        words.append(rng.choice(ADVERBS))
    words += [rng.choice(VERBS), _noun_phrase(rng)]
    if rng.random() < 0.5:
        words += [rng.choice(PREPOSITIONS), _noun_phrase(rng)]
    if rng.random() < 0.15:
        words.append(f"in {rng.randint(1850, 2025)}")
    elif rng.random() < 0.15:
        words.append(f"for {rng.randint(2, 90)} {rng.choice(['days', 'weeks', 'months', 'years'])}")
    return " ".join(words)


def sentence(rng: random.Random) -> str:
    text = _clause(rng)
    if rng.random() < 0.4:
        text += f"{',' if rng.random() < 0.5 else ''} {rng.choice(CONJUNCTIONS)} {_clause(rng)}"
    if rng.random() < 0.25:
        text = f"{rng.choice(OPENERS)} {text}"
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", ".", ".", "?", ";"]).replace(";", ".")


def page_paragraphs(rng: random.Random, words: int) -> list[str]:
    """Paragraphs of 3-6 sentences, ~`words` words in all."""
    paragraphs, count = [], 0
    while count < words:
        para = []
        for _ in range(rng.randint(3, 6)):
            s = sentence(rng)
            para.append(s)
            count += len(s.split())
            if count >= words:
                break
        paragraphs.append(" ".join(para))
    return paragraphs


def chapter_title(rng: random.Random, k: int) -> str:
    return f"Chapter {k}: The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of {rng.choice(PLACES)}"


# ---------------------------------------------------------------- fixtures


def make_pdf(path: Path, pages: int, words: int) -> None:
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "I", 9)
            self.cell(0, 8, "Pearl River Delta Field Report - benchmark fixture", align="R")
            self.ln(12)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 9)
            self.cell(0, 8, f"Page {self.page_no()}", align="C")

    rng = random.Random(SEEDS["pdf"])
    pdf = Report(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title("Pearl River Delta Field Report")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_margins(25, 15, 25)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        for para in page_paragraphs(rng, words):
            pdf.multi_cell(0, 5.5, para, align="L")
            pdf.ln(3)
        if pdf.page_no() != n:
            raise SystemExit(f"PDF page {n} overflowed; lower --words")
    pdf.output(str(path))


def make_docx(path: Path, pages: int, words: int) -> None:
    import docx

    rng = random.Random(SEEDS["docx"])
    document = docx.Document()
    props = document.core_properties
    props.title, props.author = "Delta Handbook", "jmqa benchmark"
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    for n in range(1, pages + 1):
        if (n - 1) % CHAPTER_EVERY == 0:
            document.add_heading(chapter_title(rng, (n - 1) // CHAPTER_EVERY + 1), level=1)
        for para in page_paragraphs(rng, words):
            document.add_paragraph(para)
        if n < pages:
            document.add_page_break()
    buf = io.BytesIO()
    document.save(buf)
    # fixed zip timestamps, so the same arguments give the same bytes
    src, out = zipfile.ZipFile(io.BytesIO(buf.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    path.write_bytes(out.getvalue())


ASIDE = ('<aside><h3>More from around the web</h3><ul><li><a href="https://example.com/a">Ten rainy-day recipes</a>'
         "</li></ul></aside>")


def make_html(path: Path, pages: int, words: int) -> None:
    rng = random.Random(SEEDS["html"])
    nav = "\n".join(f'    <li><a href="/{w}/">{w.title()}</a></li>'
                    for w in ("home", "topics", "travel", "about", "contact"))
    script = "\n".join(f"  var banner{i} = \"{sentence(rng)}\";" for i in range(40))
    main = ["<h1>Notes from the Delta</h1>"]
    for n in range(1, pages + 1):  # a "page" is ~`words` words of the article
        if (n - 1) % CHAPTER_EVERY == 0:
            if n > 1:
                main.append("</section>")
            main.append(f"<section>\n<h2>{html.escape(chapter_title(rng, (n - 1) // CHAPTER_EVERY + 1))}</h2>")
        main += [f"<p>{html.escape(p, quote=False)}</p>" for p in page_paragraphs(rng, words)]
    main.append("</section>")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Notes from the Delta - benchmark fixture</title>
<style>body {{ font-family: Georgia, serif; }} main {{ max-width: 42em; margin: 0 auto; }}</style>
<script>
{script}
  window.addEventListener("load", function () {{ console.log("loaded"); }});
</script>
</head>
<body>
<nav>
  <ul>
{nav}
  </ul>
</nav>
<header><p class="banner">Delta Notes - a community site</p><button>Subscribe</button></header>
<main>
{chr(10).join(main)}
</main>
{ASIDE}
<footer><p>Copyright 2026 Delta Notes. All rights reserved.</p><p><a href="/privacy/">Privacy</a></p></footer>
<script>console.log("analytics");</script>
</body>
</html>
"""
    path.write_bytes(page.encode("utf-8"))


def make_fixtures(folder: Path, pages: int, words: int) -> dict[str, dict]:
    """The three files in `folder`; {format: {"path", "pages", "mb"}}."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"pdf": pages, "docx": max(1, pages // 2), "html": max(1, pages // 2)}
    makers = {"pdf": make_pdf, "docx": make_docx, "html": make_html}
    out = {}
    for fmt in FORMATS:
        path = folder / FILE_NAMES[fmt]
        t = time.perf_counter()
        makers[fmt](path, sizes[fmt], words)
        out[fmt] = {"path": str(path), "pages": sizes[fmt], "mb": round(path.stat().st_size / 1e6, 3),
                    "make_s": round(time.perf_counter() - t, 1)}
    return out


# ---------------------------------------------------------------- child processes


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KB on Linux


def one(fmt: str, path: Path, pages: int, extract_only: bool) -> dict:
    """Extract one file (and unless `extract_only`, index it); timings and peak RSS of this process."""
    t = time.perf_counter()
    from jmqa.ingest import read_file

    {"pdf": lambda: __import__("pypdf"), "docx": lambda: __import__("docx"), "html": lambda: __import__("bs4")}[fmt]()
    if not extract_only:
        from jmqa.config import Settings
        from jmqa.embedding import SentenceTransformerEmbedder
        from jmqa.index import Index
    out: dict = {"format": fmt, "pages": pages, "mb": round(path.stat().st_size / 1e6, 3),
                 "import_s": round(time.perf_counter() - t, 2), "rss_after_imports_mb": peak_rss_mb()}
    t = time.perf_counter()
    doc = read_file(path)
    extract_s = time.perf_counter() - t
    out.update(extract_s=round(extract_s, 3), pages_per_s=round(pages / extract_s, 1),
               mb_per_s=round(out["mb"] / extract_s, 2), characters=len(doc.text), words=len(doc.text.split()),
               places=len(doc.places), peak_rss_extraction_mb=peak_rss_mb())
    if extract_only:
        return out

    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size)
    t = time.perf_counter()
    embedder.warm_up()
    out["model_load_s"] = round(time.perf_counter() - t, 2)
    out["backend"] = embedder.backend
    encode_s = 0.0
    real_encode = embedder.encode

    def timed_encode(texts, *, show_progress=False):
        nonlocal encode_s
        t = time.perf_counter()
        vectors = real_encode(texts, show_progress=show_progress)
        encode_s += time.perf_counter() - t
        return vectors

    embedder.encode = timed_encode
    t = time.perf_counter()
    index = Index.build([doc], embedder, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    build_s = time.perf_counter() - t
    out.update(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, chunks=len(index.chunks),
               build_s=round(build_s, 2), encode_s=round(encode_s, 2),
               chunks_per_s=round(len(index.chunks) / encode_s, 1) if encode_s else None,
               extract_and_index_s=round(extract_s + build_s, 2),
               extract_and_index_pages_per_s=round(pages / (extract_s + build_s), 2),
               peak_rss_mb=peak_rss_mb())
    return out


def scan(folder: Path) -> dict:
    """scan_corpus on `folder` twice: the first time also imports the readers (as a fresh start does)."""
    t = time.perf_counter()
    from jmqa.ingest import scan_corpus

    out: dict = {"import_s": round(time.perf_counter() - t, 2), "runs_s": []}
    for _ in range(2):
        t = time.perf_counter()
        result = scan_corpus(folder)
        out["runs_s"].append(round(time.perf_counter() - t, 2))
    out.update(documents=len(result.docs), skipped=[s.reason for s in result.skipped], peak_rss_mb=peak_rss_mb())
    return out


def child(*args: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    print("$", "python", "benchmarks/ingest_formats.py", *args, file=sys.stderr, flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode})")
    print(f"  {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- parent


def markdown(r: dict) -> str:
    lines = ["| format | file | extraction s | pages/s | MB/s | peak RSS, extraction only | chunks | index build s "
             "(embedding s) | pages/s, extraction + index | peak RSS, extraction + index |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for fmt in FORMATS:
        e, f = r["formats"][fmt]["extract_only"], r["formats"][fmt]["full"]
        times = sorted((e["extract_s"], f["extract_s"]))
        extract = f"{times[0]:.2f}" if round(times[0], 2) == round(times[1], 2) else f"{times[0]:.2f}–{times[1]:.2f}"
        best = times[0]
        lines.append(f"| {fmt.upper()} | {e['pages']} pages, {e['mb']:.2f} MB, {e['words']:,} words | {extract} "
                     f"| {e['pages'] / best:.0f} | {e['mb'] / best:.2f} "
                     f"| {e['peak_rss_extraction_mb']:.0f} MB ({e['rss_after_imports_mb']:.0f} after imports) "
                     f"| {f['chunks']:,} | {f['build_s']:.1f} ({f['encode_s']:.1f}) "
                     f"| {f['extract_and_index_pages_per_s']:.2f} "
                     f"| {f['peak_rss_mb']:.0f} MB |")
    s = r["scan_corpus"]
    lines.append(f"\n`scan_corpus` on the folder of the three files ({s['documents']} documents): "
                 f"{s['runs_s'][0]:.2f} s on a fresh process (readers imported by it), then {s['runs_s'][1]:.2f} s; "
                 f"peak RSS {s['peak_rss_mb']:.0f} MB.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=200, help="PDF pages; the DOCX and the HTML get half as many")
    ap.add_argument("--words", type=int, default=350, help="words per page")
    ap.add_argument("--keep", type=Path, help="write the fixtures into this folder and keep them")
    ap.add_argument("--out", type=Path, default=OUT / "ingest_formats.json")
    ap.add_argument("--one", choices=FORMATS, help=argparse.SUPPRESS)  # child: measure one file
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--extract-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scan", type=Path, help=argparse.SUPPRESS)  # child: scan_corpus on a folder
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.file, args.pages, args.extract_only)))
        return
    if args.scan:
        print(json.dumps(scan(args.scan)))
        return

    r: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_at_start": os.getloadavg()[0],
               "pages": args.pages, "words_per_page": args.words, "formats": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "corpus"
        print(f"fixtures in {folder}", file=sys.stderr, flush=True)
        fixtures = make_fixtures(folder, args.pages, args.words)
        r["fixtures"] = {fmt: {k: v for k, v in f.items() if k != "path"} for fmt, f in fixtures.items()}
        for fmt in FORMATS:
            common = ["--one", fmt, "--file", fixtures[fmt]["path"], "--pages", str(fixtures[fmt]["pages"])]
            r["formats"][fmt] = {"extract_only": child(*common, "--extract-only"), "full": child(*common)}
        r["scan_corpus"] = child("--scan", str(folder))
    r["load_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    print(f"{r['machine']}; {r['date']}; load average {r['load_at_start']:.2f} at start, "
          f"{r['load_at_end']:.2f} at end\n")
    print(markdown(r))


if __name__ == "__main__":
    main()
