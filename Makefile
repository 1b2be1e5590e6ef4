# Gentle Fine-Tuning: two commands.
#   make lab   set up the project-local environment (.venv) and open the course in JupyterLab
#   make test  set up the same environment and run every check (unit tests, doctests, notebooks, ruff,
#              hygiene, the Colab simulation, lessons in JupyterLab in headless Chromium, the website)
#   make site  build the course website into build/site/ (open build/site/index.html)
# The environment is (re)built whenever requirements.txt changes. A longer browser check:
#   make browser-lessons  every lesson run completely in JupyterLab in headless Chromium

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings
# JupyterLab refuses to run as root unless told; these machines run as root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
PYTEST_ARGS ?=
# Two pytest workers, each test file on one of them (its module fixtures computed once). The
# README's Performance section has the times; three workers were slower on 2 cores.
TEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: lab reset-lesson test test-one-thread site environment colab-environment browser \
	browser-lessons refresh-notebooks release benchmarks benchmarks-full clean

environment: $(STAMP)

$(STAMP): requirements.txt scripts/jupyterlab_overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "This course needs Python 3.11; found " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@mkdir -p $(LAB_SETTINGS)
	@cp scripts/jupyterlab_overrides.json $(LAB_SETTINGS)/overrides.json
	@touch $@

# A Colab-like environment for tests/test_colab.py: only what a Colab runtime brings (TensorFlow,
# Keras, TensorBoard, NumPy, matplotlib, ipykernel, ipywidgets) at requirements.txt's pins; no nbval,
# jupytext or pytest. Rebuilt when requirements.txt changes; pip installs it from its cache.
COLAB_VENV ?= .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed
COLAB_PACKAGES := tensorflow|keras|tensorboard|numpy|matplotlib|ipykernel|ipywidgets
colab-environment: $(COLAB_STAMP)

$(COLAB_STAMP): requirements.txt
	@test -x $(COLAB_VENV)/bin/python || $(PYTHON) -m venv $(COLAB_VENV)
	grep -E '^($(COLAB_PACKAGES))==' requirements.txt > $(COLAB_VENV)/requirements.txt
	$(COLAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -r $(COLAB_VENV)/requirements.txt
	@touch $@

# make lab serves the learner's copies in work/ (made from notebooks/ the first time, updated only
# while unchanged), so running a lesson never dirties the course. COURSE_WORK_DIR moves that folder.
WORK_FOLDER = $(shell $(BIN)/python -c 'from helpers.lessons import course; print(course.work_folder())' 2>/dev/null)
lab: $(STAMP)
	$(BIN)/python scripts/learner_copies.py prepare
	$(BIN)/jupyter lab --ServerApp.root_dir="$(WORK_FOLDER)" --LabApp.default_url=/lab/tree/notebooks $(ALLOW_ROOT) $(LAB_ARGS)

# Backs up the learner's copy of lesson LESSON (e.g. make reset-lesson LESSON=3) with a timestamp in
# work/backups/, then restores the course's version.
reset-lesson: $(STAMP)
	$(BIN)/python scripts/learner_copies.py reset "$(LESSON)"

# Headless Chromium for the browser tests: Debian's package, installed when missing and we are
# root (Playwright's own browser download does not work here). Otherwise those tests skip, saying why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests (about a minute)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "apt-get could not install chromium: the browser tests will say so"; \
	else echo "No $(CHROMIUM) and not root: the browser tests will be skipped (apt-get install chromium)"; \
	fi

# The second pytest checks the website after the notebooks (the first run defers it): it builds
# build/site-fast/ from the lessons as the first run executed them (build/executed/fast/, written
# by conftest.py) and crawls it in headless Chromium: every page, image and internal link (~20 s).
test: $(STAMP) $(COLAB_STAMP) browser
	$(BIN)/ruff check helpers tests notebooks scripts benchmarks conftest.py
	$(BIN)/ruff format --check helpers tests notebooks scripts benchmarks conftest.py
	COURSE_FAST=1 TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 MPLBACKEND=Agg $(BIN)/python -m pytest $(TEST_WORKERS) $(PYTEST_ARGS)
	COURSE_FAST=1 TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 MPLBACKEND=Agg $(BIN)/python -m pytest tests/test_site.py

# Every lesson run completely (Run All, fast mode) in JupyterLab in headless Chromium: no cell may
# show an error; lesson 01's slider and lesson 05's Train button are used too. The test command
# runs lessons 01 and 05 completely and the setup cell of the others (nbval runs all their cells).
# Screenshots land in build/screenshots/. About 3 minutes here.
browser-lessons: $(STAMP) browser
	COURSE_BROWSER_LESSONS=all COURSE_FAST=1 TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 MPLBACKEND=Agg \
	  $(BIN)/python -m pytest -p no:xdist tests/test_browser_lessons.py $(PYTEST_ARGS)

# The same checks with one TensorFlow thread: a different reduction order stands in for another CPU.
test-one-thread:
	TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 $(MAKE) test

# For maintainers: `make release VERSION=v0.3.0` sets COURSE_REF (the release Colab clones) and
# the project's version, re-syncs the notebooks, commits, tags, and records the release in
# scripts/releases.tsv (see scripts/release.py). Then: git push origin HEAD v0.3.0
release: $(STAMP)
	@test -n "$(VERSION)" || { echo "Usage: make release VERSION=vX.Y.Z" >&2; exit 2; }
	$(BIN)/python scripts/release.py $(VERSION)

# The course website, offline: the README as front page, each lesson run in full mode with nbclient
# (build/executed/full/), rendered with its plots by Sphinx + MyST-NB (scripts/site/conf.py) into
# build/site/. About 3 minutes on 2 cores. `scripts/build_site.py --help` lists the options.
site: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 $(BIN)/python scripts/build_site.py --mode full

# For authors: re-run notebooks in fast mode and store the outputs of cells tagged keep_output.
refresh-notebooks: $(STAMP)
	COURSE_FAST=1 $(BIN)/python scripts/notebook_tool.py refresh notebooks/*.ipynb

# Speed is measured here, never in timed tests. `make benchmarks` (about 5 minutes) prints the
# table of ratios; `make benchmarks-full` adds each lesson in full mode and the test command against
# BASELINE_REF (about 35 minutes). Copy the table into the README's "Performance" section.
BASELINE_REF ?= HEAD~1
benchmarks: $(STAMP)
	$(BIN)/python benchmarks/speed_table.py

benchmarks-full: $(STAMP)
	$(BIN)/python benchmarks/speed_table.py --full --baseline-ref $(BASELINE_REF)
	$(BIN)/python benchmarks/jit_compile.py

clean:
	rm -rf $(VENV) $(COLAB_VENV)
