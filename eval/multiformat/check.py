"""Check eval/multiformat/questions.jsonl against the rendered files, extracted independently.

    python eval/multiformat/make.py OUT_DIR && python eval/multiformat/check.py OUT_DIR

For each row: the id is unique; the schema holds; every `support` sentence occurs verbatim (whitespace
collapsed) in the text of the named `doc`, in the stated place:
  - PDF: pypdf's text of the stated 1-based `page` (and of no other page);
  - DOCX: python-docx paragraphs under the Title / Heading paragraph whose text is `section`;
  - HTML: BeautifulSoup text of the <p> elements in <main> under the <h1>/<h2> whose text is `section`.
It also checks that the page chrome (PDF running header/footer; HTML nav, header, aside, footer, script)
holds no gold support, and that the short answers of plain fact rows occur in their support sentence.
Exit status 0 if everything holds, 1 otherwise (every problem is printed).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions.jsonl"
CATEGORIES = {"fact", "list", "yesno", "why", "open", "paraphrase", "unanswerable", "chinese"}
DOCS = {"kaiping-guide.pdf", "xinhui-and-taishan.docx", "jiangmen-science.html"}
CJK = re.compile(r"[\u3400-\u9fff]")


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [norm(page.extract_text() or "") for page in PdfReader(str(path)).pages]


def docx_sections(path: Path) -> dict[str, str]:
    import docx

    sections: dict[str, list[str]] = defaultdict(list)
    current = None
    for para in docx.Document(str(path)).paragraphs:
        style = para.style.name if para.style is not None else ""
        if style == "Title" or style.startswith("Heading"):
            current = norm(para.text)
            sections.setdefault(current, [])
        elif current is not None and para.text.strip():
            sections[current].append(para.text)
    return {k: norm(" ".join(v)) for k, v in sections.items()}


def html_sections(path: Path) -> tuple[dict[str, str], str]:
    """Return ({heading: text of the <p>s under it inside <main>}, text of the page outside <main>)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    main = soup.find("main")
    sections: dict[str, list[str]] = defaultdict(list)
    current = None
    for el in main.find_all(["h1", "h2", "p"]):
        if el.name in ("h1", "h2"):
            current = norm(el.get_text(" "))
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(el.get_text(" "))
    main.extract()
    chrome = norm(soup.get_text(" "))
    return {k: norm(" ".join(v)) for k, v in sections.items()}, chrome


def supports(row: dict) -> list[str]:
    s = row.get("support")
    if s is None:
        return []
    return [s] if isinstance(s, str) else list(s)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python eval/multiformat/check.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[1])
    errors: list[str] = []

    pages = pdf_pages(out / "kaiping-guide.pdf")
    docx_secs = docx_sections(out / "xinhui-and-taishan.docx")
    html_secs, html_chrome = html_sections(out / "jiangmen-science.html")

    if len(pages) < 4:
        errors.append(f"PDF has {len(pages)} pages, want >= 4")
    for n, text in enumerate(pages, start=1):
        if not text.startswith("Kaiping Visitor Guide") or not text.endswith(f"Page {n}"):
            errors.append(f"PDF page {n}: running header/footer missing: {text[:40]!r} ... {text[-20:]!r}")

    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = Counter(r.get("id") for r in rows)
    for rid, n in ids.items():
        if n > 1:
            errors.append(f"duplicate id {rid!r} ({n} rows)")

    per_page: Counter = Counter()
    for r in rows:
        rid = r.get("id")
        where = f"{rid}:"
        for key in ("id", "question", "answers", "answerable", "category", "doc"):
            if key not in r:
                errors.append(f"{where} missing field {key!r}")
        if r.get("category") not in CATEGORIES:
            errors.append(f"{where} bad category {r.get('category')!r}")
        if r.get("doc") not in DOCS:
            errors.append(f"{where} bad doc {r.get('doc')!r}")
        if not isinstance(r.get("answers"), list):
            errors.append(f"{where} answers must be a list")
        sup = supports(r)
        if not r.get("answerable"):
            if sup or r.get("answers") or "support" in r:
                errors.append(f"{where} unanswerable row must have answers [] and no support")
            if "page" in r or "section" in r:
                errors.append(f"{where} unanswerable row must have no page/section")
            continue
        if not sup:
            errors.append(f"{where} answerable row without support")
        if not (r.get("answers") or r.get("items") or r.get("yesno") or r.get("points")):
            errors.append(f"{where} no answers/items/yesno/points")
        if "yesno" in r and r["yesno"] not in ("yes", "no"):
            errors.append(f"{where} yesno must be 'yes' or 'no'")
        if "yesno" in r and any(not a.lower().startswith(r["yesno"]) for a in r.get("answers", [])
                                if not CJK.search(a)):
            errors.append(f"{where} every English answer must start with {r['yesno']!r}")
        if "points" in r and not 1 <= r.get("min_points", 0) <= len(r["points"]):
            errors.append(f"{where} min_points must be between 1 and len(points)")
        if r.get("category") == "chinese" and r.get("language") != "zh":
            errors.append(f"{where} chinese row needs language 'zh'")

        doc = r.get("doc", "")
        for s in sup:
            if s != norm(s) or any(c in s for c in "\u2018\u2019\u201c\u201d"):
                errors.append(f"{where} support must be one line with straight quotes: {s!r}")
            if doc.endswith(".pdf"):
                page = r.get("page")
                if not isinstance(page, int) or not 1 <= page <= len(pages):
                    errors.append(f"{where} bad page {page!r}")
                    continue
                if s not in pages[page - 1]:
                    found = [n for n, t in enumerate(pages, 1) if s in t]
                    errors.append(f"{where} support not on page {page} (found on {found}): {s!r}")
                others = [n for n, t in enumerate(pages, 1) if n != page and s in t]
                if others:
                    errors.append(f"{where} support also on pages {others}")
                if "Kaiping Visitor Guide" in s or re.search(r"\bPage \d", s):
                    errors.append(f"{where} support contains PDF chrome")
            else:
                secs = docx_secs if doc.endswith(".docx") else html_secs
                section = r.get("section")
                if section not in secs:
                    errors.append(f"{where} no section {section!r} in {doc} (have {sorted(secs)})")
                    continue
                if s not in secs[section]:
                    found = [k for k, t in secs.items() if s in t]
                    errors.append(f"{where} support not under {section!r} (found under {found}): {s!r}")
                if doc.endswith(".html") and s in html_chrome:
                    errors.append(f"{where} support also outside <main>")
        if doc.endswith(".pdf"):
            if "section" in r:
                errors.append(f"{where} PDF rows use page, not section")
            per_page[r.get("page")] += 1
        elif "page" in r:
            errors.append(f"{where} DOCX/HTML rows use section, not page")

        # plain rows: one of the short answers should be a span of the support (case-insensitive)
        joined = " ".join(sup).lower()
        if r.get("category") in ("fact", "paraphrase") and not any(k in r for k in ("items", "yesno", "points")):
            if not any(a.lower() in joined for a in r["answers"]):
                errors.append(f"{where} no answer alias occurs in the support")
        for item in r.get("items", []):
            if not any(a.lower() in joined for a in item if not CJK.search(a)):
                errors.append(f"{where} list item {item} not in the support")

    for n in range(1, len(pages) + 1):
        if per_page[n] < 3:
            errors.append(f"PDF page {n} has {per_page[n]} questions, want >= 3")

    cats = Counter(r.get("category") for r in rows)
    docs = Counter(r.get("doc") for r in rows)
    print(f"{len(rows)} rows; categories {dict(sorted(cats.items()))}")
    print(f"docs {dict(sorted(docs.items()))}; PDF questions per page {dict(sorted(per_page.items()))}")
    for e in errors:
        print("FAIL", e)
    print("OK" if not errors else f"{len(errors)} problem(s)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
