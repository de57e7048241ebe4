#!/usr/bin/env python3
"""Synth and test-suite benchmark: wall time and peak memory of whole process trees, with ratios to targets.

Cases (each run several times, interleaved, after one warm-up run of every case):

- ``floor``: an empty CDK app with one empty stack: same Python, same Node, same validation settings as staging.
- ``staging``: ``python app.py``, the staging app, as `cdk synth` runs it.
- ``readme-synth``: the README's synth command, ``make synth`` (the pinned CLI on Node 24).
- ``stock``: the staging app synthesized the way a user gets it without our care: the system Node, aws-cdk-lib's
  default validation (the built-in template validator on), and the CDK CLI as npm serves it today.
- ``suite``: the full test suite (``python -m pytest``).
- ``doctor``: the doctor's tests alone (``python -m pytest tests/doctor``), the part of the suite that deploys
  stacks into moto.

Before and after: with ``--baseline-ref REF`` (for instance ``HEAD``, the last commit, against the working tree)
the bench clones this checkout at ``REF`` into a temporary directory, or with ``--baseline DIR`` it uses a
checkout you made, and measures ``suite`` and ``doctor`` there too (``suite@before``, ``doctor@before``): same
Python, venv and Node (the baseline gets symlinks to this checkout's ``.venv`` and ``node_modules`` when it has
none), its own code first on ``PYTHONPATH``. It then prints each one's wall time before and after.

Targets (ratios of medians, measured side by side in this run):
staging/floor <= 1.3 (wall) and <= 1.2 (peak memory); readme-synth/stock <= 0.5 (wall); suite/staging <= 12 (wall).

Run ``make bench`` (or ``python bench/synth.py --runs 5``; ``make bench BASELINE=HEAD`` for before and after;
``--cases doctor`` to measure only some cases). Needs the project set up (``make setup``); the stock case installs
the latest ``aws-cdk`` CLI from npm once into ``bench/.stock/`` with the system's npm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
NODE24_BIN = ROOT / ".venv" / "node" / "bin"
STOCK_DIR = ROOT / "bench" / ".stock"
SAMPLE_SECONDS = 0.01

FLOOR_APP = """
import aws_cdk as cdk

from app import add_validation_plugins

app = cdk.App()
add_validation_plugins(app)  # same validation settings as the staging app
stack = cdk.Stack(app, "Floor", env=cdk.Environment(region="us-east-2"))
# An empty template is invalid CloudFormation; the floor measures the machinery, not the finding.
cdk.Validations.of(stack).acknowledge(
    cdk.Acknowledgment(id="CloudFormation-Validate::F0001", reason="the benchmark floor is empty on purpose")
)
app.synth()
"""

TARGETS: list[tuple[str, str, str, float]] = [
    # (label, numerator case, metric, bound) against the denominators below
    ("library cost: staging / floor, wall", "staging", "wall", 1.3),
    ("library cost: staging / floor, peak memory", "staging", "rss", 1.2),
    ("user's wait: readme-synth / stock, wall", "readme-synth", "wall", 0.5),
    ("suite / one staging synth, wall", "suite", "wall", 12.0),
]
DENOMINATORS = {"staging": "floor", "readme-synth": "stock", "suite": "staging"}

#: Cases measured ``--suite-runs`` times (the others ``--runs`` times).
TEST_CASES = ("suite", "doctor")


@dataclass
class Case:
    """A command to measure, with its environment and working directory."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path = ROOT
    walls: list[float] = field(default_factory=list)
    rsss: list[float] = field(default_factory=list)


def run_measured(case: Case) -> tuple[float, float]:
    """Run ``case`` once; return wall seconds and the peak summed RSS (MiB) of its whole process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        case.argv, cwd=case.cwd, env=case.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):  # the tree changes while we walk it
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(
            f"{case.name} failed (exit {proc.returncode}): {' '.join(case.argv)}\n{stderr[-3000:]}"
        )
    return wall, peak / 2**20


def base_env() -> dict[str, str]:
    """The environment with AWS credentials removed (synth needs none) and nothing of a virtualenv set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_", "JSII_"))}
    env.pop("VIRTUAL_ENV", None)
    return env


def project_env(tmp: Path) -> dict[str, str]:
    """What the Makefile gives synth: Node 24 and the venv first on PATH, output in a temp dir."""
    env = base_env()
    env["PATH"] = os.pathsep.join([str(NODE24_BIN), str(VENV_BIN), env.get("PATH", "")])
    env["CDK_OUTDIR"] = str(tmp / "out")
    # What the CLI hands the app: cdk.json's context (feature flags) plus its own defaults.
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update({"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True})
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    env.update(read_make_synth_env())
    return env


def read_make_synth_env() -> dict[str, str]:
    """Environment variables the Makefile exports for synth (so floor and staging share its settings)."""
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "print-synth-env"], capture_output=True, text=True, check=False
    )
    env: dict[str, str] = {}
    if out.returncode == 0:
        for line in out.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isidentifier():
                env[key] = value
    return env


def stock_cli() -> Path:
    """The CDK CLI as npm serves it today, installed once with the system's npm (warm-up, not measured)."""
    cli = STOCK_DIR / "node_modules" / "aws-cdk" / "bin" / "cdk"
    if not cli.exists():
        STOCK_DIR.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm", path="/usr/local/bin:/usr/bin:/bin")
        if npm is None:
            raise SystemExit("the stock case needs the system's npm (and node) on /usr/bin or /usr/local/bin")
        subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
                str(STOCK_DIR),
                "aws-cdk",
            ],
            check=True,
        )
    return cli


def system_node() -> str:
    node = shutil.which("node", path="/usr/local/bin:/usr/bin:/bin")
    if node is None:
        raise SystemExit("the stock case needs the system's node on /usr/bin or /usr/local/bin")
    return node


def test_cases(env: dict[str, str], python: str, root: Path, suffix: str = "") -> list[Case]:
    """The suite and the doctor's tests, run in ``root`` (this checkout, or a baseline with ``suffix``)."""
    # As `make test` runs it: Node 24 and the venv first on PATH (no CDK_OUTDIR or context: tests set their own).
    test_env = {k: v for k, v in env.items() if k not in ("CDK_OUTDIR", "CDK_CONTEXT_JSON", "CDK_VALIDATION")}
    if root != ROOT:
        test_env["PYTHONPATH"] = str(root)  # its own constructs_obs, stacks and tests, not this checkout's
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return [
        Case(f"suite{suffix}", pytest, test_env, cwd=root),
        Case(f"doctor{suffix}", [*pytest, "tests/doctor"], test_env, cwd=root),
    ]


def prepare_baseline(path: Path) -> Path:
    """A baseline checkout: its ``.venv`` and ``node_modules`` are this checkout's when it has none."""
    if not (path / "constructs_obs").is_dir():
        raise SystemExit(f"--baseline {path} is not a checkout of this project (no constructs_obs/)")
    for name in (".venv", "node_modules"):
        if not (path / name).exists():
            (path / name).symlink_to(ROOT / name)
    return path


def clone_baseline(ref: str, tmp: Path) -> Path:
    """This checkout's commit ``ref``, cloned into ``tmp`` (the checkout itself is left as it is)."""
    target = tmp / "baseline"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", ref], check=True)
    return prepare_baseline(target)


def make_cases(
    tmp: Path, with_suite: bool, baseline: Path | None = None, wanted: set[str] | None = None
) -> list[Case]:
    """The cases to measure (only those named in ``wanted``, when given: the stock CLI is installed only if its
    case is)."""
    env = project_env(tmp)
    floor_dir = tmp / "floor"
    floor_dir.mkdir()
    (floor_dir / "floor_app.py").write_text(FLOOR_APP)
    python = str(VENV_BIN / "python")
    floor_env = {**env, "PYTHONPATH": str(ROOT)}
    cases = [
        Case("floor", [python, str(floor_dir / "floor_app.py")], floor_env, cwd=ROOT),
        Case("staging", [python, "app.py"], env),
        Case("readme-synth", ["make", "-s", "synth"], {**base_env()}),
    ]
    if wanted is None or "stock" in wanted:
        stock_env = base_env()
        # The system's node first: jsii and the CLI run on whatever `node` a user has.
        stock_env["PATH"] = os.pathsep.join(
            [str(Path(system_node()).parent), str(VENV_BIN), stock_env.get("PATH", "")]
        )
        cases.append(
            Case(
                "stock",
                [system_node(), str(stock_cli()), "synth", "--quiet", "-o", str(tmp / "stock-out")],
                stock_env,
            )
        )
    if with_suite:
        cases += test_cases(env, python, ROOT)
        if baseline is not None:
            cases += test_cases(env, python, baseline, "@before")
    return [c for c in cases if wanted is None or c.name.split("@")[0] in wanted]


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per synth case (default 5)")
    parser.add_argument(
        "--suite-runs", type=int, default=2, help="measured runs of the test suite (default 2)"
    )
    parser.add_argument("--no-suite", action="store_true", help="skip the test-suite cases (suite, doctor)")
    parser.add_argument(
        "--cases", help="measure only these cases, comma-separated (e.g. doctor,suite); default: all"
    )
    before = parser.add_mutually_exclusive_group()
    before.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of an earlier version: also measure its suite and doctor tests",
    )
    before.add_argument(
        "--baseline-ref",
        help="clone this checkout at REF (e.g. HEAD) as the baseline, into a temporary directory",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.suite_runs < 1:
        parser.error(f"--runs and --suite-runs must be at least 1, got {args.runs} and {args.suite_runs}")

    with tempfile.TemporaryDirectory(prefix="obs-bench-") as tmpdir:
        baseline = None
        if args.baseline is not None:
            baseline = prepare_baseline(args.baseline.resolve())
        elif args.baseline_ref:
            baseline = clone_baseline(args.baseline_ref, Path(tmpdir))
        wanted = {c.strip() for c in args.cases.split(",") if c.strip()} if args.cases else None
        cases = make_cases(Path(tmpdir), with_suite=not args.no_suite, baseline=baseline, wanted=wanted)
        if not cases:
            parser.error(f"--cases {args.cases}: no such case")
        print(
            f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"Python {sys.version.split()[0]}, Node 24 {node_version(str(NODE24_BIN / 'node'))}, "
            f"system Node {node_version(system_node())}",
            flush=True,
        )
        for case in cases:  # warm-up: caches, the stock CLI install, jsii's runtime unpacking
            run_measured(case)
        rounds = max(args.runs, 0 if args.no_suite else args.suite_runs)
        for i in range(rounds):
            for case in cases:
                is_test = case.name.split("@")[0] in TEST_CASES
                if is_test and i >= args.suite_runs:
                    continue
                if not is_test and i >= args.runs:
                    continue
                wall, rss = run_measured(case)
                case.walls.append(wall)
                case.rsss.append(rss)
            print(f"round {i + 1}/{rounds} done", file=sys.stderr, flush=True)

    by_name = {c.name: c for c in cases}
    print()
    print(
        f"{'case':<16}{'runs':>5}{'wall median s':>15}{'wall spread':>14}{'peak MiB median':>17}{'MiB spread':>16}"
    )
    for c in cases:
        print(
            f"{c.name:<16}{len(c.walls):>5}{statistics.median(c.walls):>15.2f}{spread(c.walls):>14}"
            f"{statistics.median(c.rsss):>17.0f}{f'{min(c.rsss):.0f}-{max(c.rsss):.0f}':>16}"
        )
    print()
    results: dict[str, object] = {
        "cases": {c.name: {"wall_s": c.walls, "peak_mib": c.rsss} for c in cases},
        "ratios": {},
    }
    ok = True
    for label, num, metric, bound in TARGETS:
        den = DENOMINATORS[num]
        if num not in by_name or den not in by_name:
            continue
        pick: Callable[[Case], list[float]] = (lambda c: c.walls) if metric == "wall" else (lambda c: c.rsss)
        ratio = statistics.median(pick(by_name[num])) / statistics.median(pick(by_name[den]))
        met = ratio <= bound
        ok &= met
        print(f"{label:<48} {ratio:6.2f}  target <= {bound:<4}  {'met' if met else 'MISSED'}")
        results["ratios"][label] = {"ratio": ratio, "bound": bound, "met": met}  # type: ignore[index]
    comparisons: dict[str, object] = {}
    for name in TEST_CASES:
        if name in by_name and f"{name}@before" in by_name:
            after = statistics.median(by_name[name].walls)
            before_wall = statistics.median(by_name[f"{name}@before"].walls)
            comparisons[name] = {
                "before_s": before_wall,
                "after_s": after,
                "after_over_before": after / before_wall,
            }
            print(
                f"{name + ': before / after, wall':<48} {before_wall:6.2f} s / {after:6.2f} s  "
                f"(after = {after / before_wall:.2f} x before)"
            )
    results["before_after"] = comparisons
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


def node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
