"""Checks a static website in headless Chromium: pages, images, internal links, no network.

`problems(browser, folder)` serves `folder` on 127.0.0.1, opens every HTML page in it and every
page an internal link reaches, and lists what is wrong, one sentence each:
- a page that does not answer 200, or throws a JavaScript error;
- an image that does not load (`img.complete && img.naturalWidth > 0` fails);
- an internal link to a missing file, or to an anchor its page does not hold;
- a request for anything outside the site (a CDN's script, font or style sheet): it is blocked,
  so a page is checked as it renders offline.
Links to other sites are not followed. `tests/test_site.py` runs it on the course website, and
on a small broken site to show that it fails.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import pathlib
import threading
import urllib.parse
from collections.abc import Iterator

# Chromium asks every site for one by itself; a site without one is fine.
BROWSER_REQUESTS = ("/favicon.ico",)
# Every image loaded (lazy ones too); every id and named anchor; every link's resolved address.
PAGE_FACTS_SCRIPT = """async () => {
    const images = Array.from(document.images);
    for (const image of images) { image.loading = "eager"; }
    await Promise.all(images.map((image) => image.decode().catch(() => null)));
    return {
        brokenImages: images
            .filter((image) => !(image.complete && image.naturalWidth > 0))
            .map((image) => image.getAttribute("src")),
        anchors: Array.from(document.querySelectorAll("[id], a[name]"))
            .map((element) => element.id || element.getAttribute("name")),
        links: Array.from(document.querySelectorAll("a[href]")).map((link) => link.href),
    };
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *arguments) -> None:
        """Logs nothing."""


@contextlib.contextmanager
def served(folder: pathlib.Path) -> Iterator[str]:
    """Serves `folder` over HTTP on 127.0.0.1 (a free port) and yields its base address."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def problems(browser, folder: pathlib.Path) -> list[str]:
    """Lists what is wrong with the website in `folder`: its pages, images and internal links.

    Args:
        browser: playwright.sync_api.Browser, e.g. from `chromium.launched_browser()`.
        folder: pathlib.Path, the site's root folder; the crawl starts at each of its HTML files.

    Returns:
        One sentence per problem, each naming the page and the address; `[]` when all is well.
    """
    with served(folder) as base:
        context = browser.new_context()
        try:
            crawl = _Crawl(context, base)
            crawl.run([base + page for page in _pages_in(folder)])
        finally:
            context.close()
    return crawl.found


class _Crawl:
    """One visit of a site: each page once, then the anchors its links point at."""

    def __init__(self, context, base: str):
        self.context = context
        self.base = base
        self.found: list[str] = []
        self.anchors_by_page: dict[str, set[str] | None] = {}  # None: the page did not load
        self.referrer_of: dict[str, str] = {}  # an address -> the first page linking to it
        self.anchor_links: list[tuple[str, str]] = []  # (the page, the link's address)
        self.checked_files: set[str] = set()
        self.current_page = ""
        context.route("**/*", self._block_outside_requests)

    def run(self, starts: list[str]) -> None:
        """Visits `starts` and every page reachable from them, then checks every link's anchor."""
        page = self.context.new_page()
        page.on("pageerror", self._on_script_error)
        page.on("response", self._on_response)
        to_visit = list(reversed(starts))
        while to_visit:
            address = to_visit.pop()
            if address not in self.anchors_by_page:
                to_visit += self._visit(page, address)
        page.close()
        self._check_anchors()

    def _visit(self, page, address: str) -> list[str]:
        """Loads one page, checks its images and file links; returns the pages it links to."""
        self.current_page = address
        response = page.goto(address, wait_until="load")
        self.anchors_by_page[address] = None
        status = response.status if response else None
        if status != 200:
            linked_from = self.referrer_of.get(address)
            where = f" (linked from {linked_from})" if linked_from else ""
            self.found.append(f"{address}{where}: answered {status}, not 200")
            return []
        facts = page.evaluate(PAGE_FACTS_SCRIPT)
        self.found += [f"{address}: image {src} did not load" for src in facts["brokenImages"]]
        self.anchors_by_page[address] = set(facts["anchors"])
        pages = []
        for link in facts["links"]:
            if not link.startswith(self.base):
                continue  # another site, or a mailto: or javascript: link: not followed
            target, _, fragment = link.partition("#")
            self.referrer_of.setdefault(target, address)
            if _is_page(target):
                pages.append(target)
                if fragment:
                    self.anchor_links.append((address, link))
            else:
                self._check_file(address, target)
        return pages

    def _check_file(self, address: str, target: str) -> None:
        """Checks once that a linked file (a download, not a page) answers 200."""
        if target in self.checked_files:
            return
        self.checked_files.add(target)
        status = self.context.request.get(target).status
        if status != 200:
            self.found.append(f"{address}: link to {target} answered {status}, not 200")

    def _check_anchors(self) -> None:
        """Each link with a fragment: its page (if it loaded) holds that id or named anchor."""
        for address, link in self.anchor_links:
            target, _, fragment = link.partition("#")
            anchors = self.anchors_by_page.get(target)
            if anchors is not None and urllib.parse.unquote(fragment) not in anchors:
                self.found.append(f"{address}: link to {link}, whose page has no such anchor")

    def _block_outside_requests(self, route) -> None:
        """Lets the site's own files through; blocks, and reports, anything from elsewhere."""
        address = route.request.url
        if address.startswith(self.base) or address.startswith("data:"):
            route.continue_()
            return
        self.found.append(f"{self.current_page}: requested {address}, outside the site (blocked)")
        route.abort()

    def _on_response(self, response) -> None:
        """Reports a file of a page (a script, style sheet, font...) that failed to load.

        Pages and images are reported by `_visit`, which names their links.
        """
        path = urllib.parse.urlsplit(response.url).path
        is_resource = response.request.resource_type not in ("document", "image")
        if is_resource and response.status >= 400 and path not in BROWSER_REQUESTS:
            self.found.append(f"{self.current_page}: {response.url} answered {response.status}")

    def _on_script_error(self, error) -> None:
        """Reports an uncaught JavaScript error on the page being visited."""
        self.found.append(f"{self.current_page}: script error {error}")


def _pages_in(folder: pathlib.Path) -> list[str]:
    """The HTML pages in `folder`, relative to it (`_static/` holds templates, not pages)."""
    paths = [path.relative_to(folder) for path in folder.rglob("*.html")]
    return sorted(path.as_posix() for path in paths if path.parts[0] != "_static")


def _is_page(address: str) -> bool:
    """Whether an internal address names an HTML page (not a download such as an .ipynb)."""
    path = urllib.parse.urlsplit(address).path
    return path.endswith((".html", "/"))
