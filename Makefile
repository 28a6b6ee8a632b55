# Two commands set everything up on a fresh machine:
#   make demo   - install, then run provscan on the bundled example release
#   make test   - install (with test extras and headless Chromium), then run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install demo test bench bench-packed fuzz lint system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch 2.13.0: the CPU wheel this machine keeps on disk; only the eval extra needs it.
	$(BIN)/pip install --quiet -e '.[test,eval,batch]'
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium checks the HTML report as a person sees it (Debian package).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "install the Debian package chromium for the report tests"; fi; }

demo: install
	$(BIN)/provscan demo --out demo-report

test: install system-deps
	$(BIN)/python -m pytest

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
	$(BIN)/python bench/licenses_bench.py --out bench/results/licenses.txt
	$(MAKE) bench-packed

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

# The long fuzz run: 100,000 inputs a parser, parsers in sequence (a few hours on 2 cores);
# figures, machine and date in bench/results/fuzz.txt. The test suite runs a few seconds of
# each parser (tests/test_fuzz.py).
fuzz: install
	$(BIN)/python bench/fuzz.py --inputs 100000 --lanes 2 --out bench/results/fuzz.txt

# One formatter (ruff format) and one linter; CI runs this before the tests.
lint: install
	$(BIN)/ruff format --check scanner tests bench
	$(BIN)/ruff check scanner tests bench
	$(BIN)/mypy scanner

clean:
	rm -rf $(VENV) demo-report
