# Every target sets itself up first (scripts/setup.sh is idempotent), so each works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.venv/node/bin:$(CURDIR)/.venv/bin:$(PATH)
CDK := node node_modules/aws-cdk/bin/cdk
# Interactive synth skips CDK's built-in CloudFormation validator (more than half of a small synth);
# `make test` runs it on every template, with cfn-lint. cdk-nag still runs on every synth.
SYNTH_ENV := CDK_VALIDATION=false

.PHONY: setup synth test lint typecheck deploy diff bench print-synth-env clean

setup:
	@scripts/setup.sh

## Synthesize the staging app into cdk.out/ (no AWS credentials needed).
synth: setup
	$(SYNTH_ENV) $(CDK) synth --no-notices --quiet

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

## Benchmark synth and the test suite (figures and target ratios); see bench/synth.py.
bench: setup
	python bench/synth.py $(ARGS)

print-synth-env:
	@echo $(SYNTH_ENV)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
