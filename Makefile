# lendsim developer tasks. `make demo` and `make test` are all most people need;
# both create .venv and install the package on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
# pyvenv.cfg marks an existing venv (a plain file, unlike the bin/python
# symlink whose mtime is the interpreter's). The stamp is newer than
# pyproject.toml exactly when the install is current.
VENV_MARK := $(VENV)/pyvenv.cfg
STAMP     := $(VENV)/.lendsim-installed
# The [explore] extra (Solara, Playwright) is installed only for the explorer and its browser test.
EXPLORE_STAMP := $(VENV)/.lendsim-explore-installed
CHROMIUM      := /usr/bin/chromium
# apt-get needs root; as another user, go through sudo.
SUDO          := $(if $(filter 0,$(shell id -u)),,sudo)

NEED_PYTHON_MSG := lendsim needs Python 3.12+; install it (e.g. pyenv install 3.12) and retry

# Prints the first Python >= 3.12 that actually runs. pyenv shims exist on
# PATH even for versions that are not active and then fail when run, so every
# candidate is executed, not just looked up. Order: python3.12/3.13 on PATH,
# then the oldest pyenv-installed 3.12+ (3.12 is the supported version; results
# are only bit-identical within one Python), then plain python3.
define FIND_PYTHON
for py in python3.12 python3.13 \
    $$(ls -d $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V) \
    python3; do \
  if "$$py" -c 'import sys; assert sys.version_info >= (3,12)' >/dev/null 2>&1; then \
    echo "$$py"; exit 0; \
  fi; \
done; exit 1
endef

.PHONY: help venv install demo test docs golden clean distclean explore chromium test-browser docs-screenshot

help:
	@echo "make demo       compare headline policies under a recession (results/demo)"
	@echo "make test       run the test suite"
	@echo "make bench      full benchmark against the targets of issue 5 (minutes; results/benchmarks.json)"
	@echo "make bench-quick  the 10k/100k part of it, under a minute"
	@echo "make mutation  mutation testing of sim/ with mutmut (hours; resumable; MUTANTS='sim.policies.*' for one module)"
	@echo "make golden     record every scenario's outputs as the new golden outputs (tests/golden.py)"
	@echo "make docs       regenerate scenarios/baseline.yaml and the parameter table of docs/model.md"
	@echo "make explore    serve the interactive explorer on http://127.0.0.1:8765 (installs the [explore] extra)"
	@echo "make test-browser  drive the explorer in headless Chromium (installs the extra and Debian's chromium)"
	@echo "make docs-screenshot  the same test, saving docs/img/explorer.png, explorer_ab.png, explorer_borrower.png"
	@echo "make install    create .venv if missing and install lendsim into it"
	@echo "make venv       create .venv if missing"
	@echo "make clean      remove caches and build files (keeps .venv and results/)"
	@echo "make distclean  clean, and remove .venv too"

venv: $(VENV_MARK)

install: $(STAMP)

# The interpreter is looked for only here, when .venv must be created, so
# `make test` with an existing .venv never probes for one.
$(VENV_MARK):
	$(eval BASE_PYTHON := $(or $(shell $(FIND_PYTHON)),$(error $(NEED_PYTHON_MSG))))
	@echo "creating $(VENV) with $(BASE_PYTHON)"
	@"$(BASE_PYTHON)" -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# Order-only on the venv: only pyproject.toml changes trigger a reinstall.
$(STAMP): pyproject.toml | $(VENV_MARK)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# Installs into the same .venv; the core pins are unchanged by the extra (it only adds packages).
$(EXPLORE_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install -q -e '.[test,explore]'
	@touch $@

# Debian's chromium: Playwright's own browser download does not work offline.
chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium"; \
	  $(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }; }

explore: $(EXPLORE_STAMP)
	$(PY) run.py explore

# LENDSIM_REQUIRE_BROWSER makes the test fail, not skip, when it cannot run.
test-browser: $(EXPLORE_STAMP) chromium
	LENDSIM_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_explorer_browser.py

docs-screenshot: $(EXPLORE_STAMP) chromium
	LENDSIM_REQUIRE_BROWSER=1 LENDSIM_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/test_explorer_browser.py

# The demo is a small policy comparison (scenarios/comparisons/demo.yaml); it
# prints its summary table and replaces its own folder, results/demo.
DEMO_WORKERS ?= 2

demo: $(STAMP)
	$(PY) run.py compare scenarios/comparisons/demo.yaml --out results/demo --force -j $(DEMO_WORKERS)
	$(PY) run.py report results/demo

# Lint and format check first (ruff, configured in pyproject.toml): a minute of tests is not spent on code
# that would not be merged.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

.PHONY: bench bench-quick mutation

# Mutation testing (docs/testing.md): not part of `make test` or CI. mutmut keeps its results in mutants/
# and skips mutants already decided, so an interrupted run resumes; MUTANTS restricts (and reruns) a
# glob of mutant names, e.g. MUTANTS='sim.policies.*'. One worker, so the other core stays free.
MUTMUT_VERSION   := 3.8.1
MUTANTS          ?=
MUTATION_WORKERS ?= 1

mutation: $(STAMP)
	@$(PY) -c 'import importlib.metadata as m; assert m.version("mutmut") == "$(MUTMUT_VERSION)"' 2>/dev/null \
	  || $(PY) -m pip install -q mutmut==$(MUTMUT_VERSION)
	$(VENV)/bin/mutmut run --max-children $(MUTATION_WORKERS) $(foreach m,$(MUTANTS),'$(m)')
	$(PY) -m tests.mutation_report

bench: $(STAMP)
	$(PY) -m benchmarks --json results/benchmarks.json

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick --json results/benchmarks-quick.json

# Rewrites tests/golden_outputs.json: only for a change meant to alter outputs (commit it with the change).
golden: $(STAMP)
	$(PY) -m tests.golden --update

docs: $(STAMP)
	$(PY) -m sim.docgen --baseline scenarios/baseline.yaml
	$(PY) -m sim.docgen --docs docs/model.md

clean:
	rm -rf build *.egg-info .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
