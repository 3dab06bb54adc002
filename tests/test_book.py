"""The built book (`_build/html`) in headless Chromium: every page loads, every internal link and
anchor resolves, and screenshots of the intro and a results page are written to
`_build/screenshots/`.

Needs Debian's `chromium` and a built book (`make book`). Without them the tests skip, unless
`DALIB_REQUIRE_BROWSER=1` (set by CI), in which case they fail.
"""

import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from book_pages import result_pages

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
REQUIRE = os.environ.get("DALIB_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# pages that show results (figures drawn from records); each one that exists is shot (the last,
# the Runs page, has its own full-page shot)
RESULT_PAGES = [*result_pages(), "book/runs.html"]  # from _toc.yml and the pages (tests/book_pages.py)


def _unavailable(why):
    if REQUIRE:
        pytest.fail(f"{why} (DALIB_REQUIRE_BROWSER=1)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium():
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        _unavailable("headless Chromium not installed (Debian: apt-get install chromium)")
    if not (HTML / "index.html").exists():
        _unavailable(f"no built book at {HTML}; run `make book` first")
    with tempfile.TemporaryDirectory(prefix="dalib-chromium-") as profile_dir:

        def run(*args, timeout=90, stderr=False):
            cmd = [exe, *FLAGS, f"--user-data-dir={profile_dir}", *args]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            assert r.returncode == 0, f"chromium failed ({r.returncode}): {' '.join(args)}\n{r.stderr[-2000:]}"
            return (r.stdout, r.stderr) if stderr else r.stdout

        yield run


PRINT_PAGE = "book/results_print.html"  # made by `make print` from the built pages, checked on its own


def pages():
    return sorted(
        p
        for p in HTML.rglob("*.html")
        if not {"_static", "_sources", "_images"} & set(p.relative_to(HTML).parts)
        and p.relative_to(HTML).as_posix() != PRINT_PAGE
    )


class _Links(HTMLParser):
    """Ids of the document and the URLs it refers to, as (tag, attribute, url)."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for attr in ("href", "src"):
            if a.get(attr) and tag in ("a", "link", "img", "script", "iframe", "source"):
                self.refs.append((tag, attr, a[attr]))


def _parse(text):
    p = _Links()
    p.feed(text)
    return p


_REFRESH = re.compile(r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)["']""", re.I)


def _redirect(page: Path):
    """Target URL of a meta-refresh redirect page (Jupyter Book's index.html), else None."""
    m = _REFRESH.search(page.read_text(encoding="utf-8")[:2000])
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def doms(chromium):
    """page (relative to _build/html) -> DOM after scripts ran, as dumped by Chromium.
    A redirect page is recorded as a document holding one link to its target."""
    out = {}
    for p in pages():
        rel, target = p.relative_to(HTML).as_posix(), _redirect(p)
        out[rel] = f'<body><a href="{target}">redirect</a></body>' if target else chromium("--dump-dom", p.as_uri())
    return out


def test_every_page_loads(doms):
    assert "index.html" in doms and "book/intro.html" in doms and "book/runs.html" in doms
    empty = [page for page, dom in doms.items() if "<body" not in dom]
    assert not empty, f"pages that did not load: {empty}"
    no_title = [
        page
        for page, dom in doms.items()
        if "<h1" not in dom and "redirect" not in dom and page not in ("genindex.html", "search.html")
    ]
    assert not no_title, f"pages without a title: {no_title}"


_CAPTION = re.compile(r"<(?:em|strong)>\s*Figure[\s:A-Z0-9]", re.S)


def test_every_figure_caption_has_its_figure(doms):
    """A figure caption with no image above it means the figure was drawn but never displayed
    (e.g. the kernel's PNG formatter was lost): the page then shows a caption, or the text
    `<Figure size ...>`, where the plot should be."""
    problems = []
    for page, dom in doms.items():
        if "&lt;Figure size" in dom or "<Figure size" in dom:
            problems.append(f"{page}: a matplotlib figure shown as text (<Figure size ...>)")
        n_cap, n_img = len(_CAPTION.findall(dom)), len(re.findall(r"<img\b", dom))
        if n_cap > n_img:
            problems.append(f"{page}: {n_cap} figure captions but only {n_img} images")
    assert not problems, "\n".join(problems)


def test_results_figures_are_labelled_figure_elements(doms):
    """Each results chapter shows its figures as <figure id="fig-..."> elements, each with its image
    and a numbered caption, and no two figures of a page share a label."""
    problems = []
    shown = 0
    for page in RESULT_PAGES:
        dom = doms.get(page)
        if dom is None:
            continue
        figs = re.findall(r'<figure class="dalib-figure"(?: id="([^"]+)")?>(.*?)</figure>', dom, re.S)
        if not figs and re.search(r"<strong>Figure [A-Z]{1,2}\d+", dom):
            problems.append(f"{page}: a numbered figure caption outside a labelled figure")
        shown += bool(figs)
        ids = [i for i, _ in figs]
        if len(set(ids)) != len(ids) or not all(ids):
            problems.append(f"{page}: figure labels missing or repeated: {ids}")
        for i, body in figs:
            if "<img" not in body or not re.search(r"<figcaption><strong>Figure [A-Z]{1,2}\d+[a-z]?\.</strong>", body):
                problems.append(f"{page}: figure {i} lacks its image or its numbered caption")
    if doms.get("book/results_depth1.html") is not None:  # the results chapters draw figures: at least four pages
        assert shown >= 4, f"only {shown} results pages show a labelled figure"
    assert not problems, "\n".join(problems)


def test_labelled_tables_carry_their_numbered_caption(doms):
    """A labelled book table (dalib.chapters._show.table) sits in a <div id="tab-..."> and carries
    its numbered <caption>; no two tables of a page share a label."""
    problems = []
    for page, dom in doms.items():
        tables = re.findall(
            r'<div class="dalib-table-box" id="(tab-[^"]+)">\s*(?:<style.*?</style>\s*)?<table[^>]*>\s*<caption>(.*?)</caption>',
            dom,
            re.S,
        )
        ids = [i for i, _ in tables]
        if len(set(ids)) != len(ids):
            problems.append(f"{page}: table labels repeated: {ids}")
        for i, cap in tables:
            if not re.match(r"\s*<strong>Table [A-Z]{1,2}\d+[a-z]?\.</strong>", cap):
                problems.append(f"{page}: table {i} has no numbered caption")
    assert sum(len(re.findall(r'id="tab-', d)) for d in doms.values()) >= 5, "no labelled table in the book"
    assert not problems, "\n".join(problems)


_NAMED = re.compile(r"^(Figure|Table) ([A-Z]{1,2}\d+[a-z]?)\.")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_every_figure_and_table_of_every_page_is_named(doms):
    """Every figure and every table in a page's article carries a caption that names it in the
    book's scheme, per chapter ("Figure FP1", "Table A2", never Sphinx's global "Fig. 1", which
    collides with the paper's figure names), and no name repeats within a page."""
    problems = []
    for page, dom in doms.items():
        m = re.search(r"<article[^>]*>(.*)</article>", dom, re.S)
        if not m:
            continue
        art = m.group(1)
        names = []
        for kind, pattern in (
            ("Table", r"<table\b.*?</table>"),
            ("Figure", r"<figure\b.*?</figure>"),
        ):
            for block in re.findall(pattern, art, re.S):
                cap = re.search(r"<(?:caption|figcaption)\b[^>]*>(.*?)</(?:caption|figcaption)>", block, re.S)
                text = _text(cap.group(1)) if cap else ""
                named = _NAMED.match(text)
                if not named or named.group(1) != kind:
                    problems.append(f"{page}: a {kind.lower()} without its name: {text[:60]!r} {_text(block)[:60]!r}")
                else:
                    names.append(f"{kind} {named.group(2)}")
        if 'class="caption-number"' in art:
            problems.append(f"{page}: a caption numbered by Sphinx ('Fig. N', 'Table N')")
        captions = _text(" ".join(re.findall(r"<(?:fig)?caption\b.*?</(?:fig)?caption>", art, re.S)))
        for m in re.finditer(r"\b(Fig\.|Table) \d+[a-d]?\b", captions):
            if re.search(r"\bpaper(?:'s|’s)? $", captions[max(0, m.start() - 8) : m.start()], re.I):
                continue
            problems.append(
                f"{page}: a caption names a paper artifact without 'paper': {captions[m.start() - 30 : m.end()]!r}"
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"{page}: names repeated: {repeated}")
    assert not problems, "\n".join(problems)


def test_no_page_declares_a_script_constant_twice():
    """A script declared twice throws in the browser ("Identifier 'THEBE_JS_URL' has already been
    declared"); _ext/dalib_book.py drops the duplicate that sphinx-thebe adds."""
    if not (HTML / "index.html").exists():
        _unavailable(f"no built book at {HTML}; run `make book` first")
    twice = []
    for p in pages():
        names = re.findall(r"\bconst\s+(\w+)\s*=", p.read_text(encoding="utf-8"))
        twice += [f"{p.relative_to(HTML)}: {n}" for n in sorted(set(names)) if names.count(n) > 1]
    assert not twice, "constants declared twice:\n" + "\n".join(twice[:20])


_LONG_FLOAT = re.compile(r"(?<![\w.])\d+\.\d{5,}(?![\w.])")


def test_no_table_cell_prints_a_float_with_more_than_four_decimals(doms):
    """The book's tables print numbers as dalib.chapters._show.cell does (three significant digits,
    p-values in scientific notation). A cell with five or more decimals is a raw float that slipped
    past it. Checked on the book's own pages (book/*.html); the theory notebooks print exact sympy
    values on purpose."""
    bad = []
    for page, dom in doms.items():
        if not page.startswith("book/"):
            continue
        for cell in re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", dom, re.S):
            text = re.sub(r"<[^>]+>", "", cell)
            if _LONG_FLOAT.search(text):
                bad.append(f"{page}: {text.strip()[:80]}")
    assert not bad, "table cells with raw floats:\n" + "\n".join(bad[:20])


def test_every_internal_link_and_anchor_resolves(doms):
    ids = {page: _parse(dom).ids for page, dom in doms.items()}
    broken = []
    for page, dom in doms.items():
        base = (HTML / page).parent
        for tag, attr, url in _parse(dom).refs:
            parts = urlsplit(url)
            if parts.scheme and parts.scheme != "file" or url.startswith(("//", "javascript:", "data:")):
                continue  # external (CDN MathJax etc.): not checked offline
            if parts.scheme == "file":
                target = Path(unquote(parts.path))
            elif parts.path:
                target = (base / unquote(parts.path)).resolve()
            else:
                target = HTML / page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(HTML.resolve()) and not target.is_relative_to(HTML):
                broken.append(f"{page}: <{tag} {attr}={url!r}> points outside the book")
                continue
            if not target.exists():
                broken.append(f"{page}: <{tag} {attr}={url!r}> -> missing {target}")
                continue
            frag = unquote(parts.fragment)
            if tag == "a" and frag and target.suffix == ".html":
                rel = target.resolve().relative_to(HTML.resolve()).as_posix()
                target_ids = ids.get(rel)
                if target_ids is None:
                    target_ids = _parse(target.read_text(encoding="utf-8")).ids
                if frag not in target_ids:
                    broken.append(f"{page}: <a href={url!r}> -> no id {frag!r} in {rel}")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken)))


# A 1280x2000 frame around the first figure of a page: the page is loaded in an iframe that is
# shifted up so that its first output image sits near the top (headless Chromium cannot screenshot
# a page scrolled to an anchor: the shot comes out blank).
_FRAME = """<!DOCTYPE html><html><body style="margin:0;overflow:hidden">
<iframe id="f" src="{url}" style="border:0;width:1280px;height:40000px;position:absolute;top:0;left:0"></iframe>
<script>
document.getElementById("f").onload = function () {{
  var d = this.contentDocument, img = d && d.querySelector('img[src*="_images/"]');
  var end = d && (d.querySelector(".prev-next-area") || img);  // the end of the page's content
  var bottom = end ? end.getBoundingClientRect().bottom + 150 : 1e9;
  if (img) {{
    this.style.top = (-Math.max(0, Math.min(img.getBoundingClientRect().top - 300, bottom - 2000))) + "px";
  }}
}};
</script></body></html>
"""


def test_screenshots_of_intro_and_results_pages(chromium, tmp_path):
    """intro.png, runs.png, and results-<page>.png framing the first figure of each results page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = [((HTML / "book/intro.html").as_uri(), "intro.png"), ((HTML / "book/runs.html").as_uri(), "runs.png")]
    for page in RESULT_PAGES[:-1]:
        if (HTML / page).exists():
            frame = tmp_path / f"frame-{Path(page).stem}.html"
            frame.write_text(_FRAME.format(url=(HTML / page).as_uri()), encoding="utf-8")
            shots.append((frame.as_uri(), f"results-{Path(page).stem}.png"))
    assert len(shots) > 2, f"none of the results pages {RESULT_PAGES[:-1]} was built"
    for url, name in shots:
        out = SHOTS / name
        if out.exists():
            out.unlink()
        # the time budget lets MathJax typeset (and the frame shift) before the shot
        chromium(
            f"--screenshot={out}",
            "--window-size=1280,2000",
            "--virtual-time-budget=15000",
            "--allow-file-access-from-files",
            url,
        )
        assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no screenshot {name}"
        assert out.stat().st_size > 20_000, f"screenshot {name} looks blank ({out.stat().st_size} bytes)"


# Layout checks need the rendered page: it is loaded in an iframe of a small harness page, whose
# script waits for MathJax, inspects the page and writes a JSON report into its own DOM, which
# Chromium then dumps (--dump-dom runs scripts but cannot evaluate our own).
_CHECK = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{url}" style="border:0;width:1400px;height:3000px"></iframe>
<pre id="report">pending</pre>
<script>
document.getElementById("f").onload = function () {{
  var frame = this;
  setTimeout(function () {{
    var d = frame.contentDocument, w = frame.contentWindow;
    var art = d.querySelector("article.bd-article") || d.querySelector("main") || d.body;
    var right = art.getBoundingClientRect().right + 2, wide = [];
    art.querySelectorAll("*").forEach(function (e) {{
      var r = e.getBoundingClientRect();
      if (!(r.width > 0 && r.right > right)) return;
      for (var p = e.parentElement; p && p !== art; p = p.parentElement) {{
        var ox = w.getComputedStyle(p).overflowX;
        if (ox === "auto" || ox === "scroll") return;  // scrolls inside its own box
      }}
      wide.push(e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined ? "." + e.className : ""));
    }});
    var scrolled = [];  // boxes whose content is wider than the box: the reader must scroll sideways
    art.querySelectorAll("*").forEach(function (e) {{
      var ox = w.getComputedStyle(e).overflowX;
      // a MathJax container's scroll width counts its hidden assistive MathML: measure the drawn math
      var m = e.tagName.toLowerCase() === "mjx-container" ? e.querySelector("mjx-math") : null;
      var need = m ? m.getBoundingClientRect().width : e.scrollWidth;
      if ((ox === "auto" || ox === "scroll") && need > e.clientWidth + 1)
        scrolled.push(e.tagName.toLowerCase() + "." + String(e.className).split(" ")[0] + " (" +
                      Math.round(need) + " > " + e.clientWidth + " px)");
    }});
    var broken = Array.prototype.filter.call(d.images, function (i) {{ return !(i.complete && i.naturalWidth > 0); }})
      .map(function (i) {{ return i.getAttribute("src"); }});
    document.getElementById("report").textContent = JSON.stringify({{
      wide: wide.slice(0, 8), n_wide: wide.length, scrolled: scrolled.slice(0, 8), n_scrolled: scrolled.length,
      broken_images: broken,
      math_errors: d.querySelectorAll("mjx-merror").length,
      stderr_blocks: d.querySelectorAll(".output.stderr, .stderr").length}});
  }}, 4000);
}};
</script></body></html>
"""


def _layout_report(chromium, tmp_path, page):
    import json

    harness = tmp_path / f"check-{Path(page).stem}.html"
    harness.write_text(_CHECK.format(url=(HTML / page).as_uri()), encoding="utf-8")
    dom = chromium(
        "--dump-dom",
        "--window-size=1400,3000",
        "--virtual-time-budget=20000",
        "--allow-file-access-from-files",
        harness.as_uri(),
        timeout=120,
    )
    m = re.search(r'<pre id="report">(.*?)</pre>', dom, re.S)
    assert m and m.group(1) != "pending", f"{page}: the layout check did not run"
    import html as _html

    return json.loads(_html.unescape(m.group(1)))


def test_pages_render_cleanly_at_1400px(chromium, tmp_path):
    """Every book page at 1400 px: nothing wider than the text column, and no box whose content is
    wider than the box (which a reader would have to scroll sideways), every image loaded, MathJax
    without errors, no stderr output block."""
    problems = []
    for p in pages():
        rel = p.relative_to(HTML).as_posix()
        if rel in ("genindex.html", "search.html") or _redirect(p):
            continue
        rep = _layout_report(chromium, tmp_path, rel)
        if rep["n_wide"]:
            problems.append(f"{rel}: {rep['n_wide']} element(s) wider than the text column, e.g. {rep['wide']}")
        if rep["n_scrolled"]:
            problems.append(
                f"{rel}: {rep['n_scrolled']} box(es) whose content is wider than the box, e.g. {rep['scrolled']}"
            )
        if rep["broken_images"]:
            problems.append(f"{rel}: images not loaded: {rep['broken_images']}")
        if rep["math_errors"]:
            problems.append(f"{rel}: {rep['math_errors']} MathJax error(s)")
        if rep["stderr_blocks"]:
            problems.append(f"{rel}: {rep['stderr_blocks']} stderr output block(s)")
    assert not problems, "\n".join(problems)


def test_screenshot_of_every_page(chromium):
    """_build/screenshots/pages/<page>.png for every page of the book (1400 px wide): CI keeps them
    with the run, so a reviewer sees every page as a reader does."""
    out_dir = SHOTS / "pages"
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for p in pages():
        rel = p.relative_to(HTML).as_posix()
        if rel in ("genindex.html", "search.html") or _redirect(p):
            continue
        out = out_dir / (rel.removesuffix(".html").replace("/", "__") + ".png")
        if out.exists():
            out.unlink()
        chromium(f"--screenshot={out}", "--window-size=1400,2400", "--virtual-time-budget=10000", p.as_uri())
        assert out.exists() and out.stat().st_size > 10_000, f"no or blank screenshot of {rel}"
        n += 1
    assert n >= 10


_CONSOLE = re.compile(r":(?:ERROR|WARNING|INFO):CONSOLE[^\]]*\] \"(.*?)\", source: (\S*)")


def test_no_page_logs_a_console_error(chromium):
    """Chromium's console log of every page (scripts run, MathJax typesets): no uncaught error, such
    as a script constant declared twice, and no message that starts with "Error" (headless Chromium
    logs console.error at the level of console.log, so its text is what tells them apart)."""
    problems = []
    for p in pages():
        rel = p.relative_to(HTML).as_posix()
        if _redirect(p):
            continue
        _, log = chromium(
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=8000", "--dump-dom", p.as_uri(), stderr=True
        )
        for line in log.splitlines():
            m = _CONSOLE.search(line)
            if m and (":ERROR:CONSOLE" in line or m.group(1).startswith(("Uncaught", "Error"))):
                problems.append(f"{rel}: {m.group(1)[:200]} ({m.group(2)})")
    assert not problems, "\n".join(problems)


def test_the_console_log_parser_reads_chromiums_format():
    """The line format of `chromium --enable-logging=stderr` (seen on Debian's Chromium): the check
    above would pass vacuously if it stopped matching."""
    line = (
        "[11090:11090:1206/231138.475838:INFO:CONSOLE:1] \"Uncaught SyntaxError: Identifier 'a' has "
        'already been declared", source: file:///tmp/err.html (1)'
    )
    m = _CONSOLE.search(line)
    assert m and m.group(1).startswith("Uncaught SyntaxError") and m.group(2) == "file:///tmp/err.html"


def test_the_results_chapters_print_as_one_page_and_a_pdf():
    """`make print` (CI: .ci/site): one HTML page with a section per results page, in the order of
    _toc.yml, and a PDF of it."""
    import yaml

    page, pdf = HTML / PRINT_PAGE, HTML / "dalib-results.pdf"
    if not page.exists() or not pdf.exists():
        _unavailable("no printable results (run `make print` after the book is built)")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (results,) = [c for c in toc["chapters"] if c["file"] == "book/results"]
    want = [f"{f}.html" for f in ["book/results", *(s["file"] for s in results["sections"])]]
    text = page.read_text(encoding="utf-8")
    assert re.findall(r'data-source="([^"]+)"', text) == want
    assert text.count("<img") >= 5, "the printable page lost its figures"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000
