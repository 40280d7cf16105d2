# make bench : create .venv (Python >= 3.12), install, run the main benchmark (prints a table)
# make test  : create .venv if needed, run the test suite (what CI runs)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

# The first Python >= 3.12 found: on PATH, then under pyenv.
PYTHON_312 := $(shell for p in python3.13 python3.12 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python 2>/dev/null); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)

.PHONY: bench test lint clean

$(PY):
	@if [ -z "$(PYTHON_312)" ]; then \
		echo "spiking-mcmc needs Python >= 3.12 (current jax and ArviZ 1.x do)."; \
		echo "Install one (e.g. 'pyenv install 3.12'), or run: make PYTHON_312=/path/to/python3.12"; \
		exit 1; fi
	$(PYTHON_312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'

bench: $(PY)
	$(PY) -m benchmarks

test: $(PY)
	$(PY) -m pytest -q

lint: $(PY)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
