# Two commands for a fresh Debian machine with Python 3.11 (see README "Quick start").
#   make demo   set up .venv and run the bundled demo day (KPI table + HTML report)
#   make test   set up .venv and run the whole test suite
#   make bench  run the benchmarks under bench/ (prints figures, asserts nothing)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/carefleet sim simulation/scenarios/demo_day.yaml --report out/demo-report.html --json out/demo-report.json

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) out build *.egg-info
