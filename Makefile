# Two commands for a fresh machine:  make demo  (run the default study area)  and  make test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench bench-api clean browser wheel-check lint

$(STAMP): pyproject.toml planner/_catchment_kernel.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## demo: the embedded central-Shanghai area, with 5 proposed stations and 10 points, into out/shanghai-central (regenerated)
demo: $(STAMP)
	$(BIN)/lifecircle plan --out out/shanghai-central --force --sites station=5,point=10

## browser: Debian's Chromium and its driver for the browser tests, a CJK font for legible screenshots and PDFs,
## Pango for WeasyPrint (report.pdf) and poppler-utils (pdffonts, pdftoppm) for the PDF test
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  { fc-list 2>/dev/null | grep -qi wqy; } && \
	  command -v pdffonts >/dev/null && command -v pdftoppm >/dev/null && \
	  dpkg -s $(PDF_DEBS) >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei \
	    $(PDF_DEBS) poppler-utils >/dev/null; }

## test: the whole test suite (offline)
test: $(STAMP) browser
	$(BIN)/python -m pytest

## bench: the engine against its practical limit and baselines, same work and medians of N (not pass/fail); JSON in out/bench
bench: $(STAMP) browser
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

## bench-api: load test of a real lifecircle serve, 1 and 2 workers: p50/p99 at 1/10/50 connections with and without a what-if loop (wrk when installed), 10k and 1M-point batches, RSS/PSS per worker (~6 min)
bench-api: $(STAMP)
	$(BIN)/python -m benchmarks.api_load

## lint: ruff (lint + format check), mypy and the import-linter contracts
lint: $(STAMP)
	.ci/lint

## wheel-check: build the wheel, install it into a fresh venv outside the checkout, run lifecircle plan there
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

clean:
	rm -rf $(VENV) out .pytest_cache
