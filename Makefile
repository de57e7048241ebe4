# Every target sets itself up first (scripts/setup.sh is idempotent), so each works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.venv/node/bin:$(CURDIR)/.venv/bin:$(PATH)
CDK := node node_modules/aws-cdk/bin/cdk

.PHONY: setup synth test lint typecheck deploy diff clean

setup:
	@scripts/setup.sh

## Synthesize the staging app into cdk.out/ (no AWS credentials needed).
synth: setup
	$(CDK) synth --no-notices --quiet

## Lint, type-check and run the test suite.
test: setup lint typecheck
	python -m pytest

lint: setup
	ruff check .
	ruff format --check .

typecheck: setup
	mypy

## Deploy the staging stack (needs AWS credentials), e.g. make deploy ARGS="-c alarm_emails=ops@example.com"
deploy: setup
	$(CDK) deploy $(ARGS)

diff: setup
	$(CDK) diff $(ARGS)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
