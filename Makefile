# The course's two entry points (see README):
#   make book   build the HTML book into _build/html, executing every notebook
#   make test   unit, property and integration tests, every notebook, the book, a browser test
# Both install what they need into .venv first (once; again when pyproject.toml changes)
# and start the FATE Flow service when it is not running, stopping it again afterwards.

PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAGE      := _build/stage
NB_TIMEOUT ?= 1200

ifdef FL_COURSE_DATA
export FL_COURSE_DATA := $(abspath $(FL_COURSE_DATA))
endif

.PHONY: book test install unit notebooks html html-student browser clean

book: install
	@$(call with_fate, $(MAKE) --no-print-directory notebooks html)

test: install
	@$(call with_fate, $(MAKE) --no-print-directory unit notebooks html browser)

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

unit:
	$(PY) -m pytest tests --ignore=tests/browser -q

# Execute every lab once, on a staged copy, so the committed notebooks stay output-free;
# the book is then built from the executed copies.
notebooks:
	@rm -rf $(STAGE) _build/results && mkdir -p $(STAGE)
	@cp -r _config.yml _toc.yml references.bib book notebooks $(STAGE)/
	$(PY) -m pytest --nbmake --nbmake-timeout=$(NB_TIMEOUT) --overwrite -p no:cacheprovider \
		--durations=0 $(STAGE)/notebooks

html:
	$(VENV)/bin/jupyter-book build $(STAGE) -W -n --keep-going
	@rm -rf _build/html && cp -r $(STAGE)/_build/html _build/html
	@echo "book: $(abspath _build/html/index.html)"

browser:
	$(PY) -m pytest tests/browser -q

clean:
	rm -rf _build
