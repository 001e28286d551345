# trial-fhir-adapter — everything a fresh machine needs is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AS_OF ?= 2026-11-01

.PHONY: install demo test test-fast lint benchmark benchmark-screen wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## The main job on its embedded default: both trials to FHIR (R5 and R4), every fixture patient evaluated.
demo: $(STAMP)
	$(BIN)/trial-adapter demo --as-of $(AS_OF) --out out

## The whole test suite: lint and types, then every test, with the official FHIR validator and HAPI FHIR
## servers (Java/Maven, built on first use).
test: lint
	bash tools/ensure-debian-packages.sh redis-server chromium:chromium
	$(BIN)/python -m pytest

## The development loop: no Java, no Node, no wheel build (pytest markers java, medplum, packaging); the core's
## tests on ../shared's real-world records stay in.
test-fast: $(STAMP)
	bash tools/ensure-debian-packages.sh redis-server chromium:chromium
	$(BIN)/python -m pytest -m "not java and not medplum and not packaging" -q

lint: $(STAMP)
	$(BIN)/ruff check adapter tests benchmarks
	$(BIN)/mypy

benchmark: $(STAMP)
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/hapi.py
	$(BIN)/python benchmarks/cds.py

## Population screening, both engines, 1k / 10k / 100k synthetic patients (populations kept in benchmarks/.populations).
benchmark-screen: $(STAMP)
	$(BIN)/python benchmarks/screen.py
	$(BIN)/python benchmarks/screen_synthea.py --engines local,spark
	$(BIN)/python benchmarks/store.py

wheel: $(STAMP)
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) out dist build tools/*/target .pytest_cache .mypy_cache
