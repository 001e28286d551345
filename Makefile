# trial-fhir-adapter — everything a fresh machine needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AS_OF ?= 2026-11-01

.PHONY: install demo test lint benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## The main job on its embedded default: both trials to FHIR (R5 and R4), every fixture patient evaluated.
demo: $(STAMP)
	$(BIN)/trial-adapter demo --as-of $(AS_OF) --out out

## The whole test suite, with the official FHIR validator (Java/Maven) built on first use.
test: $(STAMP)
	$(BIN)/ruff check adapter tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check adapter tests benchmarks

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/hapi.py
	$(BIN)/python benchmarks/cds.py

clean:
	rm -rf $(VENV) out tools/*/target .pytest_cache
