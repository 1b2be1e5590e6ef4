"""The course website, built from the lessons as the notebook run left them, checked in Chromium.

`make test` runs this file right after its main pytest run (the conftest defers it there): that
run's nbval kernels wrote each lesson with its outputs to `build/executed/fast/`, and the site is
built from those copies into `build/site-fast/`. Run alone, the file executes in fast mode any
lesson whose copy is missing or out of date. `make site` builds the full-mode site instead.
"""

import base64
import pathlib
import re

import build_site
import executed_notebooks
import nbformat
import pytest
import site_check
from chromium import launched_browser

pytestmark = pytest.mark.site

FAST_SITE_FOLDER = build_site.REPOSITORY_ROOT / "build" / "site-fast"
# A 1x1 PNG: an image that loads.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg=="
)
FIGURE = re.compile(r'<img[^>]*src="\.\./_images/[^"]+\.png"')


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for this file's checks."""
    with launched_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def fast_site() -> pathlib.Path:
    """The course website from the fast-mode lessons (`build/site-fast/`)."""
    build_site.build("fast", output_folder=FAST_SITE_FOLDER, reuse=True)
    return FAST_SITE_FOLDER


def write_small_site(folder: pathlib.Path, broken: bool) -> None:
    """Two pages and an image; `broken` adds a missing page, anchor, file and image, and a CDN."""
    folder.mkdir()
    (folder / "pixel.png").write_bytes(PIXEL_PNG)
    (folder / "other.html").write_text('<h1 id="here">Other</h1><a href="index.html">back</a>')
    body = [
        '<a href="other.html#here">a page and its anchor</a>',
        '<a href="#top">this page</a>',
        '<a href="pixel.png">a file</a>',
        '<a href="https://example.org/">another site: not followed</a>',
        '<img src="pixel.png" alt="an image">',
    ]
    if broken:
        body += [
            '<a href="missing.html">a missing page</a>',
            '<a href="other.html#nowhere">a missing anchor</a>',
            '<a href="lesson.ipynb">a missing file</a>',
            '<img src="missing.png" alt="a missing image">',
            '<script src="https://cdn.example.org/library.js"></script>',
        ]
    (folder / "index.html").write_text('<h1 id="top">Index</h1>' + "\n".join(body))


def test_the_checker_passes_a_sound_site(tmp_path, browser):
    write_small_site(tmp_path / "site", broken=False)
    assert site_check.problems(browser, tmp_path / "site") == []


def test_the_checker_finds_each_broken_link_image_and_outside_request(tmp_path, browser):
    write_small_site(tmp_path / "site", broken=True)
    found = "\n".join(site_check.problems(browser, tmp_path / "site"))
    expected = [
        r"missing\.html \(linked from .*index\.html\): answered 404",
        r"index\.html: link to .*other\.html#nowhere, whose page has no such anchor",
        r"index\.html: link to .*lesson\.ipynb answered 404",
        r"index\.html: image missing\.png did not load",
        r"index\.html: requested https://cdn\.example\.org/library\.js, outside the site",
    ]
    for pattern in expected:
        assert re.search(pattern, found), f"not reported: {pattern}\nreported:\n{found}"
    assert len(found.splitlines()) == len(expected), found


def test_every_page_image_and_internal_link_of_the_course_site_works(fast_site, browser):
    assert site_check.problems(browser, fast_site) == []


def test_the_front_page_is_the_readme_and_links_every_lesson(fast_site):
    front_page = (fast_site / "index.html").read_text(encoding="utf-8")
    assert "<h1>Gentle Fine-Tuning" in front_page
    for lesson in executed_notebooks.lessons():
        assert f'href="notebooks/{lesson.stem}.html"' in front_page
    assert 'href="data/shapes_base_card.html"' in front_page


@pytest.mark.parametrize("lesson", executed_notebooks.lessons(), ids=lambda path: path.stem[:2])
def test_each_lesson_page_shows_its_figures_and_folds_its_setup_cell(fast_site, lesson):
    page = (fast_site / "notebooks" / f"{lesson.stem}.html").read_text(encoding="utf-8")
    executed = nbformat.read(executed_notebooks.folder("fast") / lesson.name, as_version=4)
    figures = [
        output
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(FIGURE.findall(page)) == len(figures)
    assert page.count('<details class="admonition hide above-input">') == 1


def test_the_lessons_plot(fast_site):
    """Figures reach the site at all: nbval's kernels plot inline."""
    pages = (fast_site / "notebooks").glob("*.html")
    assert sum(len(FIGURE.findall(page.read_text(encoding="utf-8"))) for page in pages) >= 10
