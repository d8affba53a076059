# One entry point for the fork. PYTHON is the interpreter of the environment the fork is installed in.
PYTHON ?= python3
# On a machine without torch, install this one (a CPU build on our CI machines). A torch already present is kept.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install vendor patches check-patches test compare test-slow test-slow-tiny quality pr demo bench

## Set up: materialize src/diffusers, then install the fork editable with its test extras.
install: vendor
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH)"
	$(PYTHON) -m pip install -e ".[test]"

## Fetch and verify the pinned upstream sdist, extract it into src/diffusers and apply patches/series.
vendor:
	$(PYTHON) utils/patchq.py vendor $(if $(FORCE),--force)

## Re-export patches/ from the edited src/diffusers (TOPIC=NNNN-name.patch takes edits no patch owns yet,
## or only FILES="src/diffusers/a.py ..." of them).
patches:
	$(PYTHON) utils/patchq.py export $(if $(TOPIC),--topic $(TOPIC)) $(if $(FILES),--files $(FILES))

## Fail when src/diffusers holds an edit not exported to patches/, or the series is malformed.
check-patches:
	$(PYTHON) utils/patchq.py check

## Fast, offline, CPU tests.
test:
	$(PYTHON) -m pytest tests --ignore=tests/slow -q $(PYTEST_ARGS)

## Dtype scenario matrix against pristine upstream and the fork; writes out/compare.md.
compare:
	$(PYTHON) utils/compare.py

## Slow GPU suite: SD3.5 Medium and Large in fp16, bf16 and fp32 (needs RUN_SLOW=1 semantics, a GPU and the weights).
test-slow:
	RUN_SLOW=1 $(PYTHON) -m pytest tests/slow -rs -v $(PYTEST_ARGS)

## The same slow suite on CPU against tiny SD3.5-shaped stand-ins built offline; every case must run.
STAND_INS ?= build/stand-ins
test-slow-tiny:
	$(PYTHON) utils/tiny_sd3.py $(STAND_INS)/sd35-medium --shape medium
	$(PYTHON) utils/tiny_sd3.py $(STAND_INS)/sd35-large --shape large
	RUN_SLOW=1 SD35_SLOW_ALLOW_CPU=1 SD35_SLOW_NO_SKIP=1 SD35_MEDIUM=$(STAND_INS)/sd35-medium \
	SD35_LARGE=$(STAND_INS)/sd35-large SD35_SLOW_REPORT=out/sd35-slow-report-tiny.md \
	$(PYTHON) -m pytest tests/slow -rs -v $(PYTEST_ARGS)

## Upstream's checks (ruff with upstream's config, `# Copied from` consistency) on the files the series touches.
quality:
	$(PYTHON) utils/quality.py

## The upstream pull request: pr/0001-*.patch (git am-able, source + upstream-style tests) and pr/PR.md.
pr: out/compare.md
	$(PYTHON) utils/make_pr.py --check

out/compare.md: patches/series $(wildcard patches/*.patch) tests/test_sd3_dtype.py utils/compare.py
	$(PYTHON) utils/compare.py

## Run the example on the tiny offline stand-in in five precision setups: out/demo/contact-sheet.png + dtype tables.
demo:
	$(PYTHON) examples/demo.py

## Benchmark (not a test): fork vs pristine upstream, fork/upstream ratios, fp8 text-encoder memory; out/bench.md.
bench:
	$(PYTHON) utils/bench.py --runs $(or $(RUNS),5)
