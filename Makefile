# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt
STAMP_BASE := $(VENV)/.stamp-base
STAMP_DEMO := $(VENV)/.stamp-demo
STAMP_FULL := $(VENV)/.stamp-full
# pytest workers are not used: the suite starts local servers on free ports and is sized for 2 cores.
PYTEST_ARGS ?=

.PHONY: demo test lint format install install-demo install-full sysdeps fonts clean

# Debian packages the suite needs: fonts with Cyrillic (rendered samples, synthetic data) and chromium
# (the web page's browser test). `make demo` needs none of them: it reads the shipped sample images.
APT_PACKAGES := fonts-dejavu-core fonts-sjfonts fonts-urw-base35 fonts-uralic fonts-cmu fonts-liberation \
	fonts-paratype chromium
sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Handwriting fonts with Cyrillic for `ocrkit synth --fonts ...` (the demo checkpoint's training data):
# fontsource packages from the npm registry, pinned by SHA-256, built into ~/.cache/ocrkit/fonts
# ($$OCRKIT_FONT_CACHE). Not part of `make test`: the tests that need them skip without them.
fonts: $(STAMP_DEMO)
	$(VENV)/bin/ocrkit fonts --install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

# Base install: the CLI and the costing engine (ocrkit cost); every other job is an extra.
$(STAMP_BASE): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	touch $@

# What `make demo` runs: predict and eval (the model extra), deploy --cloud local (the serve extra).
$(STAMP_DEMO): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[model,serve]'
	touch $@ $(STAMP_BASE)

# Full install: every extra (aws, gcp, serve, model, onnx, ray, chart) and the test tools.
$(STAMP_FULL): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[all,dev]'
	touch $@ $(STAMP_DEMO) $(STAMP_BASE)

install: $(STAMP_BASE)
install-demo: $(STAMP_DEMO)
install-full: $(STAMP_FULL)

SAMPLES := ocrkit/assets/samples
DEMO_NAME := ocrkit-demo
demo: $(STAMP_DEMO)
	@echo "== ocrkit cost --scenario baseline (the report's architecture, published prices + audit)"
	$(VENV)/bin/ocrkit cost --scenario baseline
	@echo
	@echo "== ocrkit cost --scenario extended"
	$(VENV)/bin/ocrkit cost --scenario extended
	@echo
	@echo "== ocrkit cost --serving all: which architecture serves the report's traffic for the least"
	$(VENV)/bin/ocrkit cost --scenario baseline --serving all
	@echo
	@echo "== ocrkit predict: the shipped demo checkpoint reads the sample images"
	$(VENV)/bin/ocrkit predict $(SAMPLES)/*.jpg
	@echo
	@echo "== ocrkit eval: the same images against their labels ($(SAMPLES)/labels.tsv)"
	$(VENV)/bin/ocrkit eval --images $(SAMPLES) --labels $(SAMPLES)/labels.tsv
	@echo
	@echo "== the local endpoint: deploy, send three sample images with ocrkit invoke, tear down"
	@set -e; $(VENV)/bin/ocrkit deploy --cloud local --name $(DEMO_NAME) --yes; \
	trap '$(VENV)/bin/ocrkit teardown --cloud local --name $(DEMO_NAME) --yes' EXIT; \
	for f in $(SAMPLES)/sample01.jpg $(SAMPLES)/sample04.jpg $(SAMPLES)/sample09.jpg; do echo "-- $$f"; \
		$(VENV)/bin/ocrkit invoke --cloud local --name $(DEMO_NAME) $$f; done

test: sysdeps $(STAMP_FULL)
	$(VENV)/bin/ruff check ocrkit tests configs
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP_FULL)
	$(VENV)/bin/ruff check ocrkit tests configs
	$(VENV)/bin/ruff format --check ocrkit tests configs

format: $(STAMP_FULL)
	$(VENV)/bin/ruff format ocrkit tests configs
	$(VENV)/bin/ruff check --fix ocrkit tests configs

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
