# Every target sets itself up first (scripts/setup.sh is idempotent), so each works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.venv/node/bin:$(CURDIR)/.venv/bin:$(PATH)
export NO_MKDOCS_2_WARNING := 1
CDK := node node_modules/aws-cdk/bin/cdk
# Interactive synth skips CDK's built-in CloudFormation validator (more than half of a small synth);
# `make test` runs it on every template, with cfn-lint. cdk-nag still runs on every synth.
SYNTH_ENV ?= CDK_VALIDATION=false

.PHONY: setup synth test test-floor lint typecheck docs docs-gen deploy diff bench rehearse print-synth-env clean

setup:
	@scripts/setup.sh

## Synthesize the staging app into cdk.out/ (no AWS credentials needed).
synth: setup
	$(SYNTH_ENV) $(CDK) synth --no-notices --quiet

## Lint, type-check, run the test suite and build the documentation site.
test: setup lint typecheck
	python -m pytest
	$(MAKE) -s docs

## The consumer and cookbook tests, and the README's quickstart, on the oldest aws-cdk-lib the library supports
## (pyproject.toml's floor), with cdk-nag 2, in their own virtualenv (.venv-floor/). CI runs it after `make test`.
test-floor: setup
	scripts/test-floor.sh

## Build the documentation site into site/ (strict: a broken link or reference fails).
docs: setup
	mkdocs build --strict --quiet

## Regenerate the documentation generated from the staging stack (and its picture, with Graphviz).
docs-gen: setup
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq graphviz >/dev/null; } \
		|| { echo "docs-gen needs Graphviz: apt-get install graphviz"; exit 1; }
	python scripts/docgen.py

lint: setup
	ruff check .
	ruff format --check .

typecheck: setup
	mypy

## Rehearse the staging stack's lifecycle in LocalStack (installed on first use into its own venv in the cache):
## create, alarms to ALARM with metric data, recovery, update, delete, re-create; prints what it saw and the times.
rehearse: setup
	python -m tests.rehearsal

## Deploy the staging stack (needs AWS credentials), e.g. make deploy ARGS="-c alarm_emails=ops@example.com"
deploy: setup
	$(CDK) deploy $(ARGS)

diff: setup
	$(CDK) diff $(ARGS)

## Benchmark synth and the test suite (figures and target ratios); see bench/synth.py.
## BASELINE=REF (e.g. HEAD) also measures the suite and the doctor's tests at that commit: before and after.
bench: setup
	python bench/synth.py $(if $(BASELINE),--baseline-ref $(BASELINE)) $(ARGS)

print-synth-env:
	@echo $(SYNTH_ENV)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
