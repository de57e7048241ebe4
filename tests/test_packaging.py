"""Packaging: what a wheel holds, what building one leaves in the checkout, obs-doctor without its ``doctor``
extra, the constructs without boto3, and the public testing helper :mod:`constructs_obs.testing`."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from constructs_obs.alarms.log_patterns import BACKEND_ERROR_PATTERN, NGINX_5XX_PATTERN
from constructs_obs.host.docker_events import CONTAINER_CRASH_PATTERN
from constructs_obs.testing import FilterPatternError, count, matches, matching
from tests.checkout import clean_copy, git
from tests.conftest import ROOT

DOCTOR_ARGS = ["--stack", "AiTutorStaging", "--region", "us-east-2"]

# --------------------------------------------------------------------------------------------------------------
# The wheel, built from a clean copy of the checkout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a clone of this work tree would have (tracked and new, nothing ignored), committed."""
    return clean_copy(tmp_path_factory.mktemp("checkout") / "constructs-obs")


@pytest.fixture(scope="module")
def wheel(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from the clean copy, as ``pip install /path/to/checkout`` does."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(checkout)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    [built] = out.glob("*.whl")
    return built


@pytest.mark.xdist_group("packaging")
def test_building_leaves_no_file_in_the_checkout(wheel: Path, checkout: Path) -> None:
    # setuptools wrote build/ and constructs_obs.egg-info/ into the checkout; hatchling builds out of tree.
    assert wheel.name == "constructs_obs-0.1.0-py3-none-any.whl"
    assert git(checkout, "status", "--porcelain", "--ignored") == ""


@pytest.mark.xdist_group("packaging")
def test_wheel_holds_the_library_and_nothing_else(wheel: Path, checkout: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = "constructs_obs-0.1.0.dist-info/"
    library = sorted(name for name in names if not name.startswith(dist_info))
    source = sorted(
        path.relative_to(checkout).as_posix()
        for path in (checkout / "constructs_obs").rglob("*")
        if path.is_file()
    )

    assert library == source
    assert {
        "constructs_obs/__init__.py",
        "constructs_obs/py.typed",
        "constructs_obs/doctor/__init__.py",
        "constructs_obs/doctor/cli.py",
        "constructs_obs/testing/filter_pattern.py",
        "constructs_obs/testing/__init__.py",
    } <= set(library)
    assert not [
        name for name in library if name.split("/")[0] in {"tests", "stacks", "docs", "scripts", "bench"}
    ]
    assert sorted(name.removeprefix(dist_info) for name in names if name.startswith(dist_info)) == [
        "METADATA",
        "RECORD",
        "WHEEL",
        "entry_points.txt",
    ]


@pytest.mark.xdist_group("packaging")
def test_wheel_metadata_boto3_only_with_the_doctor_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read("constructs_obs-0.1.0.dist-info/METADATA").decode())
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read("constructs_obs-0.1.0.dist-info/entry_points.txt").decode())

    assert (metadata["Name"], metadata["Version"]) == ("constructs-obs", "0.1.0")
    requires = metadata.get_all("Requires-Dist")
    runtime = sorted(r for r in requires if ";" not in r)
    assert runtime == ["aws-cdk-lib<3,>=2.208.0", "constructs<11,>=10.8.1", "pyyaml<7,>=6.0.1"]
    boto3 = sorted(r.split(";")[1].strip() for r in requires if r.startswith("boto3<"))
    assert boto3 == ["extra == 'dev'", "extra == 'doctor'"]
    assert {"dev", "doctor"} <= set(metadata.get_all("Provides-Extra"))
    assert dict(entry_points["console_scripts"]) == {"obs-doctor": "constructs_obs.doctor.cli:main"}


# --------------------------------------------------------------------------------------------------------------
# Installed without the doctor extra: a virtualenv with the wheel and nothing else


@pytest.fixture(scope="module")
def bare_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with only this wheel installed: no boto3 (and no aws-cdk-lib)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = ["install", "--no-deps", "--no-index", "--quiet", str(wheel)]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; print(u.find_spec('boto3'), u.find_spec('botocore'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert found.stdout.split() == ["None", "None"]
    return venv


def _bare_env(home: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home)}


@pytest.mark.xdist_group("packaging")
@pytest.mark.parametrize("command", [["bin/obs-doctor"], ["bin/python", "-m", "constructs_obs.doctor"]])
def test_obs_doctor_without_boto3_says_how_to_install_it(
    command: list[str], bare_venv: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(bare_venv / command[0]), *command[1:], *DOCTOR_ARGS],
        cwd=tmp_path,
        env=_bare_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "obs-doctor needs boto3 (No module named 'boto3'): pip install \"constructs-obs[doctor]\""
    ]


@pytest.mark.xdist_group("packaging")
def test_testing_helper_needs_neither_the_cdk_nor_boto3(bare_venv: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from constructs_obs.testing import count\n"
        "print(count('%^ERROR:%', ['ERROR:    Exception in ASGI application', 'INFO:     x ERROR: y']))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'aws_cdk', 'jsii', 'boto3', 'botocore'}))\n"
    )
    result = subprocess.run(
        [str(bare_venv / "bin" / "python"), "-c", code],
        cwd=tmp_path,
        env=_bare_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines() == ["1", "[]"]


def test_constructs_never_import_boto3(tmp_path: Path) -> None:
    # The staging app builds every construct and synthesizes (cdk-nag and the free-tier check included).
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import constructs_obs, constructs_obs.testing\n"
        "from app import build_app\n"
        "from stacks.synth import make_app\n"
        f"build_app(make_app(Path({str(tmp_path / 'cdk.out')!r})), environ={{}}).synth()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "PATH": os.pathsep.join([str(ROOT / ".venv" / "node" / "bin"), os.environ["PATH"]]),
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "[]"
    assert (tmp_path / "cdk.out" / "manifest.json").is_file()


# --------------------------------------------------------------------------------------------------------------
# constructs_obs.testing: the library's own patterns on the lines the log-alarm tests take from real programs


def _docker_event(action: str, exit_code: str | None = None) -> str:
    """A ``docker events --format '{{json .}}'`` line as Docker 25 writes it (see tests/test_docker_events.py)."""
    attributes = {"image": "app-backend:latest", "name": "app-backend-1"}
    if exit_code is not None:
        attributes |= {"exitCode": exit_code, "execDuration": "3"}
    return json.dumps(
        {
            "status": action,
            "Type": "container",
            "Action": action,
            "Actor": {"ID": "4f8c", "Attributes": attributes},
        },
        separators=(",", ":"),
    )


# One unhandled exception as uvicorn 0.54 writes it (one CloudWatch event per line), then a request whose query
# string holds "ERROR:" (tests/test_log_alarms.py, from tests/test_real_log_lines.py).
UVICORN_LINES = [
    'INFO:     172.18.0.5:43210 - "GET /api/v1/lessons/17 HTTP/1.1" 500 Internal Server Error',
    "ERROR:    Exception in ASGI application",
    "Traceback (most recent call last):",
    "ValueError: lesson 17 not found",
    'INFO:     127.0.0.1:40920 - "GET /search?q=ERROR: HTTP/1.1" 200 OK',
]

# nginx's combined and the official image's main format (the second line nginx wrote in tests/realprograms.py),
# then a 200 whose Basic-auth user name tries to put 500 in the status field.
NGINX_LINES = [
    '203.0.113.7 - - [27/Nov/2026:10:16:09 +0000] "GET /api/v1/lessons?page=2 HTTP/1.1" 500 0 "-" "curl/8.5.0"',
    '127.0.0.1 - - [27/Nov/2026:10:54:59 +0000] "GET /slow/chat HTTP/1.1" 504 167 "-" "Python-urllib/3.11" "-"',
    '203.0.113.7 - - [27/Nov/2026:10:15:30 +0000] "GET /api/v1/lessons HTTP/1.1" 200 5120 "-" "curl/8.5.0"',
    '127.0.0.1 - a b c 500 [27/Nov/2026:10:54:59 +0000] "GET /index.html HTTP/1.1" 200 12 "-" "-" "-"',
]


def test_matching_backend_errors_counts_an_exception_once() -> None:
    assert matching(BACKEND_ERROR_PATTERN, UVICORN_LINES) == ["ERROR:    Exception in ASGI application"]
    assert count(BACKEND_ERROR_PATTERN, UVICORN_LINES) == 1
    assert not matches(
        BACKEND_ERROR_PATTERN, 'INFO:     127.0.0.1:40920 - "GET /search?q=ERROR: HTTP/1.1" 200 OK'
    )


def test_matching_nginx_5xx_in_both_formats_and_not_a_forged_status() -> None:
    assert matching(NGINX_5XX_PATTERN, NGINX_LINES) == NGINX_LINES[:2]
    assert count(NGINX_5XX_PATTERN, iter(NGINX_LINES)) == 2  # any iterable, read once


def test_matching_container_crashes() -> None:
    events = [
        _docker_event("oom"),
        _docker_event("die", "137"),  # the OOM kill's own die: counted once, through oom
        _docker_event("die", "1"),
        _docker_event("die", "0"),  # docker stop
        "not json",
    ]
    assert matching(CONTAINER_CRASH_PATTERN, events) == [events[0], events[2]]
    assert count(CONTAINER_CRASH_PATTERN, []) == 0


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        # Examples of AWS's "Filter pattern syntax for metric filters" documentation.
        ('"ERROR" -"Exiting"', "[ERROR] A fatal exception has occurred", True),
        ('"ERROR" -"Exiting"', "Exiting with ERRORCODE: -1", False),
        ("?ERROR ?WARN", "WARN message", True),
        ("ERROR -WARN", "ERROR WARN message", False),
        (
            '{ $.eventType = "UpdateTrail" }',
            '{"eventType": "UpdateTrail", "sourceIPAddress": "1.2.3.4"}',
            True,
        ),
        ("%^starting|^initializing|^shutting down%", "shutting down the worker", True),
        ("%^starting|^initializing|^shutting down%", "now starting", False),
    ],
)
def test_matches_documented_examples(pattern: str, line: str, expected: bool) -> None:
    assert matches(pattern, line) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("%(ERROR|WARN)%", "do not support parentheses"),  # CloudWatch rejects it
        ("[ip = %127\\.0%, ...]", "not supported here"),  # valid in CloudWatch, not implemented here
        ("ERROR:", "CloudWatch needs it in double quotes"),
        ('{ $.a = "x" ', "must end with '}'"),
    ],
)
def test_unsupported_or_invalid_patterns_raise(pattern: str, message: str) -> None:
    for call in (lambda: matches(pattern, "x"), lambda: matching(pattern, []), lambda: count(pattern, [])):
        with pytest.raises(FilterPatternError, match=message) as raised:
            call()
        assert isinstance(raised.value, ValueError)


def test_the_docstring_example_runs() -> None:
    import constructs_obs.testing

    doc = constructs_obs.testing.__doc__ or ""
    start = doc.index("    # tests/test_log_patterns.py")
    block = doc[start : doc.index("\nA metric filter adds", start)]
    namespace: dict[str, object] = {}
    source = "\n".join(line.removeprefix("    ") for line in block.splitlines())
    exec(compile(source, "constructs_obs.testing example", "exec"), namespace)  # noqa: S102
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]
    assert len(tests) == 2
    for test in tests:
        test()


# --------------------------------------------------------------------------------------------------------------
# The library speaks for itself: the staging app's names and advice stay in stacks/ and app.py

#: What only the staging app (the ai-tutor seed) has: its names, its error tracker, its context keys, its cache.
STAGING_APP_WORDS = re.compile(
    r"ai-tutor|aitutor|ai_tutor|sentry|alarm_emails|free_tier_strict|\bllm|content_item|9898|\bseed\b",
    re.IGNORECASE,
)


def test_the_package_names_nothing_of_the_staging_app() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "constructs_obs").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if STAGING_APP_WORDS.search(line)
    ]
    assert found == []
