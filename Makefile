# Two commands do all set-up on a fresh Debian machine (root, Python 3.11):
#   make run   – install everything, ingest samples/ into data/congvan.duckdb, print a summary
#   make test  – install everything, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APT_PACKAGES := tesseract-ocr tesseract-ocr-vie tesseract-ocr-script-viet fonts-liberation2 fonts-dejavu-core poppler-utils
STAMP  := $(VENV)/.installed

.PHONY: run test install system-deps samples eval bench bench-ocr clean

run: install
	$(BIN)/congvan ingest samples/

test: install
	$(BIN)/python -m pytest -n auto -q

install: system-deps $(STAMP)

# apt packages only when root and missing; elsewhere say what is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing apt packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing apt packages (run as root or install them):$$missing"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

samples: install
	$(BIN)/python samples/generate.py

eval: install
	$(BIN)/congvan eval samples/gold

bench-ocr: install
	$(BIN)/congvan bench-ocr

# Speed against the raw tesseract bound, re-check, DuckDB at 100k documents, memory (README "Speed").
# `make bench BENCH_ARGS=--quick` for a short run. hyperfine (Debian) times the raw tesseract bound when present.
bench: install
	@command -v hyperfine >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hyperfine; } >/dev/null 2>&1; } || \
	  echo "hyperfine not installed: the raw tesseract bound is timed in Python"
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data/congvan.duckdb
