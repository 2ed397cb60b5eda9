# Set-up is automatic: every target creates (or reuses) the virtual environment in .venv.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,bench,dask,docs]'
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/neon-xai demo --out examples/out

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	MPLBACKEND=Agg $(PY) -m pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache .hypothesis examples/out *.egg-info
