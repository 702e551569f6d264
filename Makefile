# Two commands set everything up on a fresh clone:
#   make demo   segment the fundus photograph bundled with scikit-image
#   make test   run the test suite
# Both create .venv if missing and install the project from its own files.
# TORCH_SPEC pins the CPU wheel available on the development machines; GPU users set it
# to their own build, e.g. make test TORCH_SPEC="torch==2.11.0" (see README).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
SAUNET_DATA ?= $(abspath ../shared/data)
export SAUNET_DATA

.PHONY: install demo test test-all lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)" -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/saunet segment --demo --out demo-output --overwrite

test: install
	$(BIN)/pytest -q

test-all: install
	$(BIN)/pytest -q -m "slow or not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks tools research
	$(BIN)/ruff format --check src tests benchmarks tools research

bench: install
	$(BIN)/python benchmarks/bench_inference.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache

# The README's picture: the demo overlay, downscaled to 500 px.
docs/demo-overlay.png: demo
	$(BIN)/python -c "from PIL import Image; im = Image.open('demo-output/retina_overlay.jpg'); im.thumbnail((500, 500)); im.save('$@')"
