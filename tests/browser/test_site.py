"""The built book as a reader's browser shows it: headless Chromium visits every page in the toc.

For each page of ``_toc.yml`` the test checks the title, that every image has loaded, that no
output shows a traceback or an error, and, on lab pages, that the Colab and Binder launch
buttons open this very notebook. It saves a full-page screenshot of each page (a CI artifact).
It fails, never skips, when the site is missing or older than its sources.

Environment variables, to test a build made elsewhere:

``FL_COURSE_HTML``
    The built site, default ``_build/html`` (what ``make html`` writes).
``FL_COURSE_BOOK_SOURCE``
    The sources it was built from (``_toc.yml``, ``_config.yml``, ``book/``, ``notebooks/``),
    default the repository.
``FL_COURSE_SCREENSHOTS``
    Where the screenshots go, default ``_build/screenshots``.
``CHROMIUM``, ``CHROMEDRIVER``
    The browser and its driver, default ``chromium`` and ``chromedriver`` on the ``PATH``
    (Debian: ``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(os.environ.get("FL_COURSE_BOOK_SOURCE", ROOT)).resolve()
HTML = Path(os.environ.get("FL_COURSE_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = Path(
    os.environ.get("FL_COURSE_SCREENSHOTS", ROOT / "_build" / "screenshots")
).resolve()
BUILD_HINT = "Run `make html` first (after `make notebooks`), or `make book`"
MAX_SCREENSHOT_HEIGHT = 12_000  # CSS pixels; longer pages are cut there
MAX_OUTPUT_BLOCKS = 10  # more separate outputs in one cell is a wall of log lines


# ---------------------------------------------------------------------------------------------
# What the sources say the site must contain


@dataclass(frozen=True)
class Page:
    """One page of the table of contents and what the browser should find on it."""

    docname: str  # e.g. "notebooks/ch1_fedavg"
    source: Path
    heading: str  # the page's first heading, as written in the source

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".ipynb"


def _toc_files(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        found += [str(node[key]) for key in ("root", "file") if key in node]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []):
                found += _toc_files(child)
    return found


def _first_heading(source: Path) -> str:
    if source.suffix == ".ipynb":
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        texts = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    else:
        texts = [source.read_text(encoding="utf-8")]
    for text in texts:
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return ""


def toc_pages() -> list[Page]:
    """Every page in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((SOURCE / "_toc.yml").read_text())
    pages = []
    for entry in _toc_files(toc):
        docname = re.sub(r"\.(md|ipynb)$", "", entry)
        candidates = [SOURCE / f"{docname}{suffix}" for suffix in (".md", ".ipynb")]
        source = next((path for path in candidates if path.is_file()), candidates[0])
        pages.append(Page(docname, source, _first_heading(source) if source.is_file() else ""))
    return pages


CONFIG = yaml.safe_load((SOURCE / "_config.yml").read_text())
PAGES = toc_pages()


def plain(markdown: str) -> str:
    """A heading's text as the browser shows it: no markup, single spaces."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # [text](link) -> text
    text = re.sub(r"\{[\w:-]+\}`([^`<]*?)\s*(<[^>]*>)?`", r"\1", text)  # {role}`text <target>`
    text = re.sub(r"[*_`$]", "", text)
    return " ".join(text.split())


def expected_launch_urls(page: Page) -> dict[str, str]:
    """The Colab and Binder links sphinx-book-theme should put on a notebook page."""
    repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"].get("branch", "main")
    book_path = str(CONFIG["repository"].get("path_to_book", "") or "").strip("/")
    notebook = "/".join(part for part in (book_path, f"{page.docname}.ipynb") if part)
    buttons = CONFIG.get("launch_buttons", {})
    urls = {}
    if buttons.get("colab_url"):
        urls["Colab"] = f"{buttons['colab_url'].rstrip('/')}/github/{repo}/blob/{branch}/{notebook}"
    if buttons.get("binderhub_url"):
        urls["Binder"] = f"{buttons['binderhub_url'].rstrip('/')}/v2/gh/{repo}/{branch}"
    return urls


# ---------------------------------------------------------------------------------------------
# The built site, a local server for it, and the browser


def _newest(paths) -> tuple[float, Path | None]:
    stamps = [(path.stat().st_mtime, path) for path in paths if path.is_file()]
    return max(stamps, default=(0.0, None))


def check_build_is_fresh() -> None:
    """Fail (never skip) when the site is missing or older than the sources it is built from."""
    if not (HTML / "index.html").is_file():
        pytest.fail(
            f"The built book is missing: there is no {HTML / 'index.html'}. {BUILD_HINT}.",
            pytrace=False,
        )
    sources = [SOURCE / name for name in ("_config.yml", "_toc.yml", "references.bib")]
    for folder in ("book", "notebooks"):
        sources += [
            path
            for path in (SOURCE / folder).rglob("*")
            if not {".ipynb_checkpoints", "__pycache__"} & set(path.parts)
        ]
    source_time, newest_source = _newest(sources)
    html_time, _ = _newest(HTML.rglob("*.html"))
    if source_time > html_time:
        pytest.fail(
            f"The built book in {HTML} is older than its sources: {newest_source} changed "
            f"after the last build. {BUILD_HINT}.",
            pytrace=False,
        )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no log line per request
        pass


@pytest.fixture(scope="session")
def site() -> str:
    """The built book served on 127.0.0.1, as a reader's browser gets it; its base URL."""
    check_build_is_fresh()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _executable(variable: str, name: str) -> str:
    path = os.environ.get(variable) or shutil.which(name)
    if not path or not Path(path).is_file():
        pytest.fail(
            f"`{name}` was not found (set {variable} or put it on the PATH). Install "
            "Chromium and its driver from the distribution: `apt-get install -y chromium "
            "chromium-driver` (make test does this).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, the distribution's build, with a throwaway profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = _executable("CHROMIUM", "chromium")
    profile = tempfile.mkdtemp(prefix="fl-course-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # With an explicit driver path Selenium skips Selenium Manager, so nothing is downloaded.
    driver = webdriver.Chrome(
        service=Service(_executable("CHROMEDRIVER", "chromedriver")), options=options
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def save_screenshot(driver, page: Page) -> Path:
    """A PNG of the whole page (up to MAX_SCREENSHOT_HEIGHT), named after the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": size["width"],
        "scale": 1,
        "height": min(size["height"], MAX_SCREENSHOT_HEIGHT),
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path = SCREENSHOTS / f"{page.docname.replace('/', '__')}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


# ---------------------------------------------------------------------------------------------
# What the browser sees

WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
const settled = () => images.every(img => img.complete);
const start = Date.now();
(function poll() {
  if (settled() || Date.now() - start > 20000) { done(images.length); }
  else { setTimeout(poll, 100); }
})();
"""

PAGE_HEADING = """
const h1 = document.querySelector("article.bd-article h1");
if (!h1) return null;
const number = h1.querySelector(".section-number");
const text = h1.cloneNode(true);
text.querySelectorAll(".section-number, .headerlink").forEach(el => el.remove());
return [number ? number.textContent.trim() : "", text.textContent.replace(/\\s+/g, " ").trim()];
"""

BROKEN_IMAGES = """
return Array.from(document.images)
  .filter(img => !img.complete || img.naturalWidth === 0)
  .map(img => img.getAttribute("src") || "(no src)");
"""

# myst-nb marks stderr as `.output.stderr` and an error (exception) as `.output.traceback`,
# and gives each cell its tags as classes (`tag_raises-exception` for cells that fail on purpose).
OUTPUT_PROBLEMS = """
const problems = [];
const MAX_BLOCKS = arguments[0];
const onPurpose = el => el.closest(".tag_raises-exception") !== null;
const text = el => (el.innerText || "").trim();
document.querySelectorAll(".output.traceback, .output.error").forEach(el => {
  if (!onPurpose(el)) problems.push(["error output", text(el)]);
});
document.querySelectorAll(".output.stderr").forEach(el => {
  if (!onPurpose(el)) problems.push(["stderr", text(el)]);
});
document.querySelectorAll(".cell_output").forEach(el => {
  if (!onPurpose(el) && !el.querySelector(".output.traceback, .output.error")
      && text(el).includes("Traceback (most recent call last)"))
    problems.push(["traceback", text(el)]);
});
document.querySelectorAll(".cell_output").forEach(el => {
  const blocks = el.querySelectorAll(":scope > .output").length;
  if (blocks > MAX_BLOCKS)
    problems.push(["wall", blocks + " separate output blocks in one cell, starting: "
                           + text(el).slice(0, 300)]);
});
return problems;
"""

ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b:?", re.MULTILINE
)


def launch_links(driver) -> dict[str, str]:
    """The launch buttons' targets, opening the theme's launch menu the way a reader does."""
    from selenium.webdriver.common.by import By

    toggles = driver.find_elements(By.CSS_SELECTOR, ".dropdown-launch-buttons > button")
    if toggles and toggles[0].is_displayed():
        toggles[0].click()
    links = {}
    for anchor in driver.find_elements(By.CSS_SELECTOR, ".dropdown-launch-buttons a[href]"):
        href = anchor.get_attribute("href")
        for name, host in (("Colab", "colab"), ("Binder", "binder")):
            if host in urlparse(href).netloc:
                links[name] = href
    return links


@pytest.mark.parametrize("page", PAGES, ids=[page.docname for page in PAGES])
def test_page(page: Page, site: str, browser):
    built = HTML / f"{page.docname}.html"
    assert built.is_file(), (
        f"{page.docname} is in _toc.yml but {built} was not built. {BUILD_HINT}."
    )
    browser.get(f"{site}/{page.docname}.html")
    browser.set_script_timeout(30)
    browser.execute_async_script(WAIT_FOR_IMAGES)
    shot = save_screenshot(browser, page)
    where = f"{page.docname} (screenshot: {shot})"

    # the title: the source's first heading, numbered once, then the book's title
    shown = browser.execute_script(PAGE_HEADING)
    assert shown, f"{where} shows no page heading."
    number, heading = shown
    assert page.heading and plain(page.heading) == heading, (
        f"{where}: heading {heading!r}, but the source's first heading is {page.heading!r}."
    )
    assert not (number and re.match(r"\d+(\.\d+)*\.?\s", heading)), (
        f"{where}: the heading is numbered twice ({number} {heading}); the book numbers its "
        "chapters, so drop the number from the source heading."
    )
    expected = f"{number} {heading} \N{EM DASH} {CONFIG['title']}".strip()
    assert browser.title == expected, f"{where}: title {browser.title!r}, expected {expected!r}."

    # every image loaded
    broken = browser.execute_script(BROKEN_IMAGES)
    assert not broken, f"{where}: these images did not load: {broken}"

    # no traceback, no error output; warnings on stderr are reported without failing
    problems = browser.execute_script(OUTPUT_PROBLEMS, MAX_OUTPUT_BLOCKS)
    errors = [
        (kind, text)
        for kind, text in problems
        if kind in ("error output", "traceback") or (kind == "stderr" and ERROR_LINE.search(text))
    ]
    assert not errors, f"{where} shows an error output:\n" + "\n---\n".join(
        f"[{kind}] {text[:1500]}" for kind, text in errors
    )
    walls = [text for kind, text in problems if kind == "wall"]
    assert not walls, (
        f"{where} shows a wall of output blocks (progress bars written to stderr?): {walls[0]}. "
        "Progress bars belong in live sessions; the book hides stderr with `execute: "
        "stderr_output: remove` in _config.yml."
    )
    for kind, text in problems:
        if kind != "stderr":
            continue
        if re.search(r"\w*Warning\b", text):
            warnings.warn(f"{page.docname} shows a warning on stderr: {text[:300]}", stacklevel=1)

    # lab pages: the launch buttons open this notebook
    if page.is_notebook:
        links = launch_links(browser)
        for service, expected in expected_launch_urls(page).items():
            assert service in links, f"{where}: no {service} launch button (found {links})."
            if service == "Colab":
                assert links[service] == expected, (
                    f"{where}: the Colab button opens {links[service]}, expected {expected}."
                )
            else:
                assert (
                    links[service].startswith(expected)
                    and f"{page.docname}.ipynb" in links[service]
                ), (
                    f"{where}: the Binder button opens {links[service]}, expected "
                    f"{expected}...{page.docname}.ipynb."
                )
