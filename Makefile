# The README's two promises: `make demo` and `make test`. Both set themselves up
# (virtualenv, pip, npm), are idempotent, and are quiet when nothing changed.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The project's own Node 22 and CDK CLI come first, then the virtualenv; jsii runs
# whichever `node` is first on PATH, so synth in tests uses Node 22 too.
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
# The oldest aws-cdk-lib vpcwatch declares (pyproject.toml), proven by the construct tests.
FLOOR_VENV := .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed

.PHONY: setup demo demo-org test lint synth deploy clean

setup: $(PY_STAMP) $(NPM_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@echo "setting up $(VENV) (Python dependencies)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -r requirements-dev.txt -e .
	@touch $@

$(FLOOR_STAMP): requirements-floor.txt pyproject.toml
	@echo "setting up $(FLOOR_VENV) (the oldest aws-cdk-lib vpcwatch supports)"
	@test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	@$(FLOOR_VENV)/bin/python -m pip install -qq --upgrade pip
	@$(FLOOR_VENV)/bin/python -m pip install -qq -r requirements-floor.txt
	@$(FLOOR_VENV)/bin/python -m pip install -qq --no-deps --no-build-isolation -e .
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	@echo "setting up node_modules (CDK CLI, Node 22)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The main job. Each step is a function of vpcwatch_demo.run; later steps
# (local deploy, replay) are added there, not here.
demo: setup
	@$(BIN)/python -m vpcwatch_demo.run

# vpcwatch across an AWS Organization (vpcwatch_demo/org.py): synth of the log-archive,
# security and member StackSet stacks, then replay and Athena per account, offline.
demo-org: setup
	@$(BIN)/python -m vpcwatch_demo.org_run

synth: setup
	@cdk synth --quiet --no-notices

# A real account, with your credentials and region (never run by the tests).
deploy: setup
	@cdk deploy --require-approval broadening

lint: $(PY_STAMP)
	@$(BIN)/ruff check --quiet .
	@$(BIN)/ruff format --check --quiet .

# Two test processes (pytest-xdist): one per core of the 2-core machine CI runs on.
TEST_PROCESSES ?= 2

test: setup lint $(FLOOR_STAMP)
	@$(BIN)/python -m pytest -n $(TEST_PROCESSES)
	@echo "construct tests against the floor: $$($(FLOOR_VENV)/bin/python -m pip list 2>/dev/null | grep -E '^aws-cdk-lib ' | tr -s ' ')"
	@$(FLOOR_VENV)/bin/python -m pytest -n $(TEST_PROCESSES) tests/constructs

clean:
	rm -rf $(VENV) $(FLOOR_VENV) node_modules cdk.out .pytest_cache demo-output
