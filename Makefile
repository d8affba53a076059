# One entry point for the fork. PYTHON is the interpreter of the environment the fork is installed in.
PYTHON ?= python3
# On a machine without torch, install this one (a CPU build on our CI machines). A torch already present is kept.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install vendor patches check-patches test compare

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
