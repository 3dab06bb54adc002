# dalib: two commands do all the set-up on a fresh machine.
#   make book   install, run pending experiments on the default CPU profile, build the book
#   make test   install, run the test suite
PROFILE ?= cpu
# flags for `python -m dalib.run --all` (cell output streamed as progress for long runs)
RUNFLAGS ?= --log-output
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
STAMP   := $(VENV)/.installed

.PHONY: install install-lab lab lint test test-avx2 test-slow results book site print ladder-gpu pair-gpu check-book benchmarks clean-book help

help:
	@echo "make book [PROFILE=cpu|smoke|paper]   install, run pending experiments, build the book"
	@echo "make test                              install and run the fast test suite"
	@echo "make lint                              ruff: the format check and the lint rules of pyproject.toml"
	@echo "make test-avx2                         the fast suite again with PyTorch, MKL and oneDNN limited to AVX2"
	@echo "make lab                               install JupyterLab (pinned extra) and open the notebooks in it"
	@echo "make test-slow                         also run tests marked slow"
	@echo "make results [PROFILE=...]             run every pending experiment notebook of a profile"
	@echo "make site [PROFILE=...]                build the book from the committed records (runs nothing)"
	@echo "make print                             the results chapters as one printable page and a PDF"
	@echo "make ladder-gpu PROFILE=paper          the model-quality ladder on one GPU, packed for the trip back"
	@echo "make pair-gpu PROFILE=paper            the paper-quality pair on one GPU, packed for the trip back"
	@echo "make check-book                        headless-Chromium checks of the built book"
	@echo "make benchmarks                        re-measure the benchmarks written into the book"

install: $(STAMP)

$(STAMP): requirements.txt requirements-lock.txt requirements-nodeps.txt requirements-ray.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements.txt -r requirements-ray.txt -c requirements-lock.txt
	$(PIP) install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	$(PIP) install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/ruff check

test: install
	$(PY) -m pytest -q -m "not slow and not browser"

# The same suite with the CPU kernels limited to AVX2 (no AVX-512, no AMX): floats round otherwise
# there, so a test that compares them exactly passes on one CPU and fails on another. The limit acts on
# PyTorch's, oneDNN's and MKL's kernels only, so the tests that run none are not repeated: the runner's
# process control (kernels, signals, Ray, JupyterLab, packing), and the tests that read the committed
# records, notebooks and sympy (claims, scorecard, chapters, statistics, theory)
AVX2_ENV := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
AVX2_SKIP := $(addprefix --ignore=tests/,test_run.py test_run_failures.py test_ray_backend.py test_lab.py test_pack.py \
	test_custom_runs.py test_rekey.py test_validate.py test_chapters.py test_scorecard.py test_claims_null.py \
	test_toy_chapter.py test_pair_claims.py test_ladder_chapter.py test_stats.py test_verdicts.py test_bounds.py \
	test_theory.py test_theory_notebooks.py test_plots.py test_imports.py)
test-avx2: install
	$(AVX2_ENV) $(PY) -m pytest -q -m "not slow and not browser" -p no:cacheprovider $(AVX2_SKIP)

LAB_STAMP := $(VENV)/.lab-installed
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
install-lab: $(LAB_STAMP)

$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(PIP) install --disable-pip-version-check -q -r requirements-lab.txt -c requirements-lock.txt
	mkdir -p $(dir $(LAB_SETTINGS))
	# MyST .md files open as notebooks (jupytext), not as text
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(LAB_SETTINGS)
	touch $(LAB_STAMP)

lab: install-lab
	$(VENV)/bin/jupyter lab --notebook-dir=. notebooks/experiments

test-slow: install
	$(PY) -m pytest -q -m "not browser"

results: install
	$(PY) -m dalib.run --all --profile $(PROFILE) $(RUNFLAGS)

book: results site

# the book from the records there are: runs no experiment (the Pages workflow publishes this build)
site: install
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	DALIB_PROFILE=$(PROFILE) $(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "book: _build/html/index.html"

# the results chapters of the built book as one printable page and a PDF (headless Chromium)
print:
	$(PY) _ext/print_book.py

# the model-quality ladder on one GPU (PROFILE=paper: the paper's width, 192 and 6 heads, three seeds):
# its runs at once on the one device, then one archive of its records, rungs and resumable states for
# the trip back, $(OUT)/ladder-$(PROFILE).tar.gz (unpack with tar -xzf in a checkout)
LADDER_JOBS ?= 6
OUT ?= _build
ladder-gpu: install
	$(PY) -m dalib.run ladder --profile $(PROFILE) --jobs $(LADDER_JOBS) --no-progress
	$(PY) -m dalib.pack ladder --profile $(PROFILE) --out $(OUT)/ladder-$(PROFILE).tar.gz

# the paper-quality pair (notebooks/experiments/pair.md) on one GPU: its training runs at once on the one
# device, then its attacks and mechanism (the pair's points of asr_suite.md and mechanism_suite.md), then
# one archive of their records, zoo entries and the committed states of unfinished runs,
# $(OUT)/pair-$(PROFILE).tar.gz (unpack with tar -xzf in a checkout)
PAIR_JOBS ?= 8
# the suites' points of the pair: their recipe (a Python literal) is pair.md's against train.md's, per profile
PAIR_RECIPE = $(shell $(PY) -c "from dalib.claims.pair import pair_recipe; print(repr(pair_recipe('$(PROFILE)')))")
pair-gpu: install
	$(PY) -m dalib.run pair --profile $(PROFILE) --jobs $(PAIR_JOBS) --no-progress
	$(PY) -m dalib.run asr_suite --profile $(PROFILE) --where "recipe=$(PAIR_RECIPE)" --jobs $(PAIR_JOBS) --no-progress
	$(PY) -m dalib.run mechanism_suite --profile $(PROFILE) --where "recipe=$(PAIR_RECIPE)" --jobs $(PAIR_JOBS) --no-progress
	$(PY) -m dalib.pack pair asr_suite mechanism_suite --profile $(PROFILE) --out $(OUT)/pair-$(PROFILE).tar.gz

check-book:
	$(PY) -m pytest -q -m browser

benchmarks: install
	$(PY) -m dalib.run --all --profile $(PROFILE) --kind benchmark --force $(RUNFLAGS)

clean-book:
	rm -rf _build
