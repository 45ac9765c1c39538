# The course's two entry points (see README):
#   make book   build the HTML book into _build/html, executing every notebook
#   make test   unit, property and integration tests, every notebook, the book, a browser test
#   make check  the fast inner loop: lint, doctests and unit tests without FATE (no labs, no book)
# Both install what they need into .venv first (once; again when pyproject.toml changes)
# and start the FATE Flow service when it is not running, stopping it again afterwards.

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAGE      := _stage
NB_TIMEOUT ?= 1200
CHROMIUM     ?= chromium
CHROMEDRIVER ?= chromedriver

ifdef FL_COURSE_DATA
export FL_COURSE_DATA := $(abspath $(FL_COURSE_DATA))
endif

.PHONY: book book-student test check install lint unit doctests notebooks html html-student browser browser-deps clean

book: install
	@$(call with_fate, $(MAKE) --no-print-directory notebooks html)

book-student: install
	@$(call with_fate, $(MAKE) --no-print-directory notebooks html-student)

test: install
	@$(call with_fate, $(MAKE) --no-print-directory unit notebooks html browser)

# The inner loop while editing fl_course: lint, doctests and unit tests, without FATE, the labs or the book.
check: install
	@$(MAKE) --no-print-directory lint doctests
	$(PY) -m pytest tests --ignore=tests/browser -m "not fate" -q -p no:cacheprovider

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

# Run a command with the FATE service up; stop it afterwards only if this call started it.
define with_fate
if $(PY) -m fl_course.fate status >/dev/null 2>&1; then started=0; \
else $(PY) -m fl_course.fate up || exit 1; started=1; fi; \
trap 'if [ $$started = 1 ]; then $(PY) -m fl_course.fate down; fi' EXIT; \
$(1)
endef

unit: lint doctests
	$(PY) -m pytest tests --ignore=tests/browser -q

# ruff (settings in pyproject.toml): pyflakes and pycodestyle, lines of at most 100 characters,
# over the package, the tests and the labs' code cells; the code is kept in ruff's format.
lint:
	$(PY) -m ruff check fl_course tests notebooks
	$(PY) -m ruff format --check fl_course tests notebooks

# Every example in fl_course's docstrings runs (results go to a scratch folder, not _build/).
doctests:
	FL_COURSE_RESULTS=$$(mktemp -d) $(PY) -m pytest --doctest-modules fl_course -q -p no:cacheprovider

# Execute every lab once, on a staged copy, so the committed notebooks stay output-free;
# the book is then built from the executed copies. (The stage is not under _build/:
# nbmake skips every notebook whose path contains a _build folder.)
notebooks:
	@rm -rf $(STAGE) _build/results && mkdir -p $(STAGE)
	@cp -r _config.yml _toc.yml references.bib book notebooks $(STAGE)/
	$(PY) -m pytest --nbmake --nbmake-timeout=$(NB_TIMEOUT) --overwrite -p no:cacheprovider \
		--durations=0 $(STAGE)/notebooks

html:
	$(VENV)/bin/jupyter-book build $(STAGE) -W -n --keep-going
	@rm -rf _build/html && cp -r $(STAGE)/_build/html _build/html
	@echo "book: $(abspath _build/html/index.html)"

# Student edition: the same executed labs, solutions left out, into _build/html-student.
html-student:
	@mkdir -p _build/student
	$(PY) -c "import yaml; c = yaml.safe_load(open('$(STAGE)/_config.yml')); \
	s = c.setdefault('sphinx', {}); s.setdefault('config', {})['hide_solutions'] = True; \
	s.setdefault('local_extensions', {})['hide_gated_solutions'] = '$(abspath $(STAGE))/book/_ext'; \
	yaml.safe_dump(c, open('_build/student/_config.yml', 'w'), sort_keys=False)"
	$(VENV)/bin/jupyter-book build $(STAGE) --config _build/student/_config.yml \
		--path-output _build/student -W -n --keep-going
	@rm -rf _build/html-student && cp -r _build/student/_build/html _build/html-student
	@echo "student book: $(abspath _build/html-student/index.html)"

# Headless Chromium and its driver from the distribution, installed once (never a downloaded build).
browser-deps:
	@command -v $(CHROMIUM) >/dev/null 2>&1 && command -v $(CHROMEDRIVER) >/dev/null 2>&1 || { \
		echo "installing chromium and chromium-driver from the distribution"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

browser: browser-deps
	$(PY) -m pytest tests/browser -q

clean:
	rm -rf _build $(STAGE)
