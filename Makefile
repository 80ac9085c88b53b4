# The MNIST book. `make book` builds it, `make test` tests it; both create the
# virtual environment .venv and install requirements.txt first when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Use ../shared/data/mnist when it exists and MNIST_DATA is not set already.
SHARED_DATA := $(abspath ../shared/data/mnist)
ifeq ($(MNIST_DATA),)
ifneq ($(wildcard $(SHARED_DATA)),)
export MNIST_DATA := $(SHARED_DATA)
endif
endif
# Quiet TensorFlow's C++ start-up messages in notebooks and tests.
export TF_CPP_MIN_LOG_LEVEL := 3
# Tools of the virtual environment come first (the notebook kernel among them).
export PATH := $(abspath $(BIN)):$(PATH)

# MathJax, pinned in package-lock.json, served by the book itself (no CDN):
# the combined TeX component and its fonts, copied into the book's static files.
MATHJAX := book/_static/mathjax/tex-mml-chtml.js
# ONNX Runtime Web, pinned the same way, for the "Draw a digit" page: its
# WebAssembly build (the script, and the module and binary it loads).
ORT := book/_static/ort/ort.wasm.min.js
ORT_FILES := ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: book test unit browser standalone bench notebooks lint lab lock clean

$(BIN)/activate: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(BIN)/activate

## book: build the HTML book into _build/html (warnings are errors)
book: $(BIN)/activate $(MATHJAX) $(ORT)
	$(BIN)/jupyter-book build . -W --keep-going
	# Sphinx copies static files only when a page changed, and never removes one:
	# refresh the book's own static files so that a rebuild serves the current ones
	rm -rf $(addprefix _build/html/_static/,demo ort mathjax)
	cp -R book/_static/. _build/html/_static/

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
$(MATHJAX): node_modules/.package-lock.json
	rm -rf book/_static/mathjax
	mkdir -p book/_static/mathjax/output/chtml/fonts
	cp node_modules/mathjax/es5/tex-mml-chtml.js book/_static/mathjax/
	cp -r node_modules/mathjax/es5/output/chtml/fonts/woff-v2 book/_static/mathjax/output/chtml/fonts/
$(ORT): node_modules/.package-lock.json
	rm -rf book/_static/ort
	mkdir -p book/_static/ort
	cp $(addprefix node_modules/onnxruntime-web/dist/,$(ORT_FILES)) book/_static/ort/

## test: lint, re-execute every notebook against its stored outputs; then, side by side, the unit
## tests and the standalone check (both after the notebooks: they reuse the models the chapters trained)
test: $(BIN)/activate lint
	$(BIN)/python -m pytest notebooks $(NBVAL)
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target unit standalone

## unit: the unit tests alone
unit: $(BIN)/activate
	$(BIN)/python -m pytest tests -m "not browser"

## browser: open the built book (make book first) in headless Chromium and check every page
browser: $(BIN)/activate
	$(BIN)/python -m pytest tests/browser -m browser

## standalone: each notebook alone in an empty folder, in a fresh environment where its install
## cell installs the library (a wheel of the committed HEAD); models from outputs/ (make test first)
standalone: $(BIN)/activate
	$(BIN)/python scripts/standalone_check.py

## bench: seconds per epoch, the book's training against plain Keras (and with determinism
## alone); the table goes to mnistlib/results/train_speed.json, which the appendix shows
BENCH_JSON ?= mnistlib/results/train_speed.json
bench: $(BIN)/activate
	$(BIN)/python bench/train_speed.py --rounds 2 --deterministic --json $(BENCH_JSON)

## lint: ruff's checks and formatting
lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## notebooks: execute every notebook top to bottom in a fresh kernel, in place
notebooks: $(BIN)/activate
	for nb in notebooks/*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=3600 "$$nb" || exit 1; \
	done

## lab: open the notebooks in JupyterLab (jupyterlab-myst renders their MyST prose)
lab: $(BIN)/activate
	$(BIN)/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

## lock: rewrite constraints.txt with the newest versions the ranges of requirements.txt
## allow (a fresh install in .venv-lock); then `make notebooks` and `make test` with them
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	grep -v '^-c ' requirements.txt > .venv-lock/requirements.txt
	.venv-lock/bin/python -m pip install --quiet -r .venv-lock/requirements.txt
	grep '^#' constraints.txt > .venv-lock/constraints.txt
	.venv-lock/bin/python -m pip freeze --exclude-editable >> .venv-lock/constraints.txt
	mv .venv-lock/constraints.txt constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf _build
