"""Sphinx configuration of the course website; `scripts/build_site.py` runs Sphinx with it.

The sources are staged by that script under `build/site-source/<mode>/`: the README as
`index.md`, the executed lessons under `notebooks/`, the data cards under `data/`. Nothing is
executed here (`nb_execution_mode = "off"`), and nothing is fetched from the network, at build
time or when a page loads.
"""

import pathlib
import sys

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.lessons import course  # noqa: E402

project = "Gentle Fine-Tuning"
author = "The Gentle Fine-Tuning authors"
copyright = "the Gentle Fine-Tuning authors, Apache-2.0"
release = course.COURSE_REF

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# Headings get anchors down to ### so that `[...](#performance)` style links resolve.
myst_heading_anchors = 3

# The lessons arrive executed (build/executed/<mode>/); Sphinx only renders them.
nb_execution_mode = "off"
# Widgets need JavaScript from a CDN; the staged lessons show a note in their place instead.
nb_ipywidgets_js = {}
# Lesson pages keep stderr (TensorFlow's and Keras's messages) out of the way but visible.
nb_output_stderr = "show"

html_theme = "sphinx_book_theme"
html_title = project
html_copy_source = True  # the theme's download button offers each lesson's .ipynb
html_last_updated_fmt = None
repository_url = course.REPOSITORY_URL.removesuffix(".git")
html_theme_options = {
    "home_page_in_toc": True,
    "repository_url": repository_url,
    "repository_branch": course.COURSE_REF,
    "use_repository_button": True,
    # Each lesson page gets "open in Colab" and "launch Binder" links at the course's release, the
    # addresses of the lesson's own badges (which the staged pages leave out: their images are
    # fetched from the network).
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "show_toc_level": 2,
    "navbar_persistent": [],
}
