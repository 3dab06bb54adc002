"""The results chapters of the built book as one printable HTML page and a PDF, offline.

Reads ``_build/html`` (``make site``), takes the article of the Results page and of each results
chapter in the order of ``_toc.yml``, and writes

- ``_build/html/book/results_print.html``: one page, the book's own styles, every figure inline;
- ``_build/html/dalib-results.pdf``: that page printed by headless Chromium (the browser the book's
  checks use: Debian's ``chromium``, or ``google-chrome`` where that is what is installed).

Nothing is executed: the page is assembled from the HTML the book build wrote.
Usage: ``python _ext/print_book.py [--html-only]`` (``make print``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
OUT_HTML = HTML / "book" / "results_print.html"
OUT_PDF = HTML / "dalib-results.pdf"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def results_pages(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """The Results page and its sections, as paths of the built book (``book/results_x.html``)."""
    toc = yaml.safe_load(toc_path.read_text())
    for ch in toc.get("chapters", []):
        if ch.get("file") == "book/results":
            return [f"{f}.html" for f in ["book/results", *(s["file"] for s in ch.get("sections", []))]]
    raise SystemExit(f"{toc_path} has no chapter book/results")


_ARTICLE = re.compile(r'<article class="bd-article"[^>]*>(.*?)</article>', re.S)
_HEAD_LINKS = re.compile(r"<link [^>]*rel=\"stylesheet\"[^>]*>", re.S)
# MathJax: the book's configuration and its local copy (typesets the math before printing)
_MATHJAX = re.compile(
    r"<script>window\.MathJax = .*?</script>|<script [^>]*src=\"[^\"]*mathjax[^\"]*\"[^>]*></script>", re.S
)


def assemble(pages: list[str]) -> str:
    """One HTML document: the stylesheets of the first page, then each page's article, in order."""
    first = (HTML / pages[0]).read_text(encoding="utf-8")
    styles = "\n".join(_HEAD_LINKS.findall(first) + _MATHJAX.findall(first))
    parts = []
    for rel in pages:
        path = HTML / rel
        if not path.exists():
            raise SystemExit(f"{path} is missing: build the book first (make site)")
        m = _ARTICLE.search(path.read_text(encoding="utf-8"))
        if not m:
            raise SystemExit(f'{path}: no <article class="bd-article"> (did the theme change?)')
        body = m.group(1)
        # links between the chapters point into this page where they can; images stay relative to book/
        body = re.sub(r'href="(results[a-z0-9_]*)\.html#', r'href="#', body)
        parts.append(f'<section class="dalib-print-chapter" data-source="{rel}">{body}</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        "<title>dalib: results chapters</title>\n"
        f"{styles}\n"
        "<style>body{margin:0 auto;max-width:1100px;padding:1em}"
        ".dalib-print-chapter{break-before:page}.dalib-print-chapter:first-child{break-before:auto}"
        "img{max-width:100%;height:auto}table.dalib-table{font-size:85%}</style>\n"
        "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def browser() -> str | None:
    for name in BROWSERS:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def print_pdf(html: Path, pdf: Path, exe: str) -> None:
    with tempfile.TemporaryDirectory(prefix="dalib-print-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--allow-file-access-from-files",
            "--virtual-time-budget=20000",  # MathJax typesets before the page is printed
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        raise SystemExit(f"printing {html} to {pdf} failed ({r.returncode}):\n{r.stderr[-2000:]}")


def main(argv: list[str]) -> int:
    pages = results_pages()
    OUT_HTML.write_text(assemble(pages), encoding="utf-8")
    print(f"print_book: {OUT_HTML.relative_to(ROOT)} ({len(pages)} pages)")
    if "--html-only" in argv:
        return 0
    exe = browser()
    if exe is None:
        raise SystemExit(f"no headless browser found (tried {', '.join(BROWSERS)}); Debian: apt-get install chromium")
    print_pdf(OUT_HTML, OUT_PDF, exe)
    print(f"print_book: {OUT_PDF.relative_to(ROOT)} ({OUT_PDF.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
