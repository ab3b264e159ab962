# The two commands of the README: `make demo` (search -> retrain -> test on Fashion-MNIST) and `make test`.
# Both set everything up themselves: a virtual environment with the pinned packages, and the data.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
DEMO_SEARCH := runs/search/fashion_mnist
DEMO_RETRAIN := runs/retrain/fashion_mnist

.PHONY: setup data browser demo test test-slow lint clean device-carry

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "cream needs Python 3.11"' \
		|| { echo "error: cream needs Python 3.11 (set PYTHON=python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

data:
	@if [ ! -f $(FMNIST) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's dataset-fashion-mnist"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist; \
		else \
			echo "error: Fashion-MNIST is missing; run: sudo apt-get install -y dataset-fashion-mnist"; exit 1; \
		fi; \
	fi

browser:  # Debian's Chromium, for the real-browser test of the report pages (which skips without it)
	@if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "note: no chromium, so the browser test of the report pages skips; sudo apt-get install -y chromium"; \
		fi; \
	fi

demo: setup data
	$(BIN)/cream search fashion_mnist run.out_dir=$(DEMO_SEARCH)
	$(BIN)/cream retrain fashion_mnist run.out_dir=$(DEMO_RETRAIN) retrain.arch=$(DEMO_SEARCH)/result.json
	$(BIN)/cream test --checkpoint $(DEMO_RETRAIN)/best.pth
	@echo "the search's report page: $(DEMO_SEARCH)/report.html (the retraining's and test's: $(DEMO_RETRAIN)/report.html)"

test: setup data browser
	$(BIN)/python -m pytest -q

test-slow: setup data browser
	$(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check src tests benchmarks

device-carry: data  # what benchmarks/device_check.sh needs on a GPU machine that has no network
	mkdir -p .device/fashion-mnist
	$(PYTHON) -m pip download -q --no-deps timm==1.0.31 -d .device
	cp /usr/share/datasets/fashion-mnist/*.gz .device/fashion-mnist/

clean:
	rm -rf $(VENV) runs .pytest_cache
