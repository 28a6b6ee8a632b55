# Two commands set everything up on a fresh machine:
#   make demo   - install provscan and what the demo needs, then run the bundled example
#   make test   - install (with test extras and headless Chromium), then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
DEMO_STAMP = $(VENV)/.installed-demo

.PHONY: install demo test bench bench-packed bench-code-real bench-real fuzz lint system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs provscan and its `demo` extra (transformers' source files), nothing more:
# no test tools, no torch. pip says what it fetches (the first time takes a few minutes).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "make demo: installing provscan and the demo extra into $(VENV)"
	$(BIN)/pip install --progress-bar off -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing provscan with the test, eval and batch extras into $(VENV)"
	$(BIN)/pip install --progress-bar off --upgrade pip
	# torch 2.13.0: the CPU wheel this machine keeps on disk; only the eval extra needs it.
	$(BIN)/pip install --progress-bar off -e '.[test,eval,batch]'
	touch $(STAMP) $(DEMO_STAMP)

install: $(STAMP)

# Headless Chromium checks the HTML report as a person sees it (Debian package).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "install the Debian package chromium for the report tests"; fi; }

demo: $(DEMO_STAMP)
	$(BIN)/provscan demo --out demo-report

# One worker per core; a test file stays on one worker (its module fixtures are built once).
test: install system-deps
	$(BIN)/python -m pytest -n auto --dist loadfile

bench: install
	$(BIN)/python bench/bench_sources.py
	$(BIN)/python bench/clones_bench.py
	$(BIN)/python bench/clones_eval.py
	$(BIN)/python bench/lineage/make_suite.py /tmp/provscan-suite
	$(BIN)/python bench/lineage/evaluate.py /tmp/provscan-suite --out bench/results/lineage.txt
	$(BIN)/python bench/lineage/evaluate.py /tmp/provscan-suite --sample-every 8 --anchors 32 \
		--out bench/results/lineage_sampled.txt
	$(BIN)/python bench/fingerprint_bench.py --out bench/results/fingerprint.txt
	$(BIN)/python bench/gguf_bench.py --out bench/results/gguf_open.txt
	$(BIN)/python bench/licenses_bench.py --real --out bench/results/licenses.txt
	$(MAKE) bench-packed
	$(MAKE) bench-code-real

# GPTQ / AWQ reading checked against AutoAWQ's and auto-gptq's own code (sources only: the
# packages themselves do not install without CUDA).
REF = /tmp/provscan-quant-ref
bench-packed: install
	rm -rf $(REF) && mkdir -p $(REF)
	$(BIN)/pip download --quiet --no-deps -d $(REF) autoawq==0.2.9 auto-gptq==0.7.1
	tar xzf $(REF)/autoawq-0.2.9.tar.gz -C $(REF)
	$(BIN)/python -m zipfile -e $(REF)/auto_gptq-0.7.1-*.whl $(REF)/gptq
	$(BIN)/python bench/packed_reference_check.py --awq $(REF)/autoawq-0.2.9 --gptq $(REF)/gptq \
		> bench/results/packed_reference.txt

# The long fuzz run: 100,000 inputs a parser, two parsers at a time (an hour or more on 2 cores);
# figures, machine and date in bench/results/fuzz.txt. The test suite runs a few seconds of
# each parser (tests/test_fuzz.py).
fuzz: install
	$(BIN)/python bench/fuzz.py --inputs 100000 --lanes 2 --out bench/results/fuzz.txt

# Copied-code and license verdicts on real code that others published: pinned PyPI wheels
# (sha256 checked) fetched into ${PROVSCAN_BENCH_CACHE:-~/.cache/provscan-bench}, never into
# the repository; vs the scancode CLI in the same run.
bench-code-real: install
	$(BIN)/python bench/code_real.py --out bench/results/code_real.txt

# Lineage on real checkpoints published inside packages, and on variants made from them with the
# tools users use (bench/real/panel.toml). Everything fetched or made goes to the cache, never
# to the repository; a second run reuses it. The raw results stay beside the cache.
BENCH_CACHE ?= $(or $(PROVSCAN_BENCH_CACHE),$(HOME)/.cache/provscan-bench)
bench-real: install
	PROVSCAN_BENCH_CACHE=$(BENCH_CACHE) $(BIN)/python bench/real/run_panel.py \
		--out bench/results/real_lineage.txt --json $(BENCH_CACHE)/real_lineage.json

# One formatter (ruff format) and one linter; CI runs this before the tests.
lint: install
	$(BIN)/ruff format --check scanner tests bench
	$(BIN)/ruff check scanner tests bench
	$(BIN)/mypy scanner

clean:
	rm -rf $(VENV) demo-report
