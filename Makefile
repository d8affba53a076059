# One entry point for the fork. Every target acts on one upstream line: LINE (a folder of lines/; default in
# fork.toml). PYTHON is the interpreter of the environment the fork is installed in; ENV=<name> picks one of the
# line's test environments instead (lines/<LINE>/line.toml [environments], created by `make env`).
LINE ?=
ENV ?=
PYTHON ?= python3
ifneq ($(ENV),)
PYTHON := build/envs/$(ENV)/bin/python
# An environment belongs to one line: it is the line unless LINE says otherwise.
ifeq ($(LINE),)
LINE := $(shell python3 -m forktools.envs line $(ENV))
endif
endif
# On a machine without torch, install this one (a CPU build on our CI machines). A torch already present is kept.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
export LINE

.PHONY: install env vendor patches check-patches test compare test-slow test-slow-tiny quality pr upstream-suite \
	gpu-check demo bench pipelines

## Set up: materialize src/diffusers for LINE, then install the fork editable with its test extras.
install: $(if $(ENV),env) vendor
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH)"
	$(PYTHON) -m pip install -e ".[test]" $(if $(ENV),-c build/envs/$(ENV)/constraints.txt)

## Create the test environment ENV of LINE (a virtualenv under build/envs/ that reuses this machine's torch).
env:
	python3 -m forktools.envs create $(ENV)

## Fetch and verify LINE's pinned sdist and build src/diffusers, a git repository: the release (tag `upstream`), then one
## commit per patch of the series (git am). FORCE=1 discards unexported work; REBASE=1 (after a bump of line.toml)
## rebases src/diffusers' patches onto the new release instead, stopping at conflicts.
vendor:
	$(PYTHON) -m forktools.queue vendor $(if $(FORCE),--force) $(if $(REBASE),--rebase)

## Commit the edits under src/diffusers, each file's as a fixup of the last patch that touches it, squash the fixups
## (git rebase --autosquash) and write the line's patches (git format-patch) and series. TOPIC=<name>.patch: the edits
## go into that patch, a new one at the end of the series if there is none of that name; FILES="src/diffusers/a.py
## ...": only those files.
patches:
	$(PYTHON) -m forktools.queue export $(if $(TOPIC),--topic $(TOPIC)) $(if $(FILES),--files $(FILES))

## Fail when src/diffusers holds an edit or commit not exported to its line's patches, or a patch is malformed.
check-patches:
	$(PYTHON) -m forktools.queue check

## Fast, offline, CPU tests of the line src/diffusers holds.
test:
	@$(PYTHON) -m forktools.lines
	$(PYTHON) -m pytest tests --ignore=tests/slow -q $(PYTEST_ARGS)

## Dtype scenarios on every line x test environment, upstream and fork; writes out/compare.md.
compare:
	$(PYTHON) -m forktools.measure.compare

## Slow GPU suite: SD3.5 Medium and Large in fp16, bf16 and fp32 (needs a GPU and the weights; skips otherwise).
test-slow:
	RUN_SLOW=1 $(PYTHON) -m pytest tests/slow -rs -v $(PYTEST_ARGS)

## The same slow suite on CPU against tiny SD3.5-shaped stand-ins built offline; every case must run.
STAND_INS ?= build/stand-ins
test-slow-tiny:
	$(PYTHON) -m forktools.standins $(STAND_INS)/sd35-medium --shape medium
	$(PYTHON) -m forktools.standins $(STAND_INS)/sd35-large --shape large
	RUN_SLOW=1 SD35_SLOW_ALLOW_CPU=1 SD35_SLOW_NO_SKIP=1 SD35_MEDIUM=$(STAND_INS)/sd35-medium \
	SD35_LARGE=$(STAND_INS)/sd35-large SD35_SLOW_REPORT=out/sd35-slow-report-tiny.md \
	$(PYTHON) -m pytest tests/slow -rs -v $(PYTEST_ARGS)

## Upstream's checks (ruff with upstream's config, doc-builder style, `# Copied from` consistency) on the files the series touches.
quality:
	$(PYTHON) -m forktools.upstream.quality

## The line's upstream pull requests: pr/<line>/NN-*.patch (git am-able) and pr/<line>/NN-*.md.
pr:
	$(PYTHON) -m forktools.upstream.pr --check

## Upstream's own tests of the fixed families (FAMILIES="sd3 sd sdxl ...": only those), pristine vs fork (UPSTREAM=path of a huggingface/diffusers checkout;
## RECORD=1 also writes lines/<LINE>/upstream-suite.{json,md}).
upstream-suite:
	$(PYTHON) -m forktools.upstream.suite $(if $(UPSTREAM),--upstream $(UPSTREAM)) $(if $(RECORD),--record) $(if $(FAMILIES),--families $(FAMILIES))

## Every pipeline of upstream's tests (dummy components) in four mixed-precision setups, pristine vs fork
## (UPSTREAM=path of a huggingface/diffusers checkout; FILES="tests/pipelines/..." only those; RECORD=1 also writes
## lines/<LINE>/pipelines.{json,md}; TABULATE=1: only the tables, from an earlier run's records).
pipelines:
	$(PYTHON) -m forktools.measure.pipelines $(if $(UPSTREAM),--upstream $(UPSTREAM)) $(if $(FILES),--files $(FILES)) $(if $(RECORD),--record) $(if $(TABULATE),--tabulate) $(if $(SETUPS),--setups $(SETUPS))

## The slow suite on full-size SD3.5-shaped pipelines with random weights, built on a CUDA GPU, fork and pristine
## upstream, within BUDGET seconds (default 1200); out/gpu-check.md. TINY=1 (or no CUDA): the same steps on CPU, tiny.
gpu-check:
	$(PYTHON) -m forktools.measure.gpu_check $(if $(TINY),--tiny) $(if $(BUDGET),--budget $(BUDGET))

## Upstream beside the fork: SD3.5 (a tiny offline stand-in), Flux and SDXL in four precision setups, run side by
## side; out/demo/contact-sheet.png and out/demo/demo.md.
demo:
	$(PYTHON) -m forktools.standins $(STAND_INS)/sd35-demo --shape medium
	$(PYTHON) examples/demo.py --sd35 $(STAND_INS)/sd35-demo

## Benchmark (not a test): fork vs pristine upstream, fork/upstream ratios; out/bench.md.
bench:
	$(PYTHON) -m forktools.measure.bench --runs $(or $(RUNS),5)
