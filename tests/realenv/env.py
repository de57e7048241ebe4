"""Where the harness keeps its files, inter-process locks, and the one skip-or-fail rule."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

HOW_TO_RUN = (
    "These tests run real programs: they need root and a Docker daemon (the harness starts Debian's dockerd "
    "itself). Run them as root after `apt-get install docker.io debootstrap busybox-static` (scripts/setup.sh "
    "does it), e.g. `sudo make test`; with CI=true they fail instead of skipping."
)


def in_ci() -> bool:
    """Whether ``CI`` is ``true``: then a missing prerequisite fails the test instead of skipping it."""
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the current test because ``reason`` (fail it when :func:`in_ci`), saying how to run it."""
    if in_ci():
        pytest.fail(f"CI=true and a real-environment test cannot run: {reason}\n{HOW_TO_RUN}", pytrace=False)
    pytest.skip(f"{reason}. {HOW_TO_RUN}")


def is_root() -> bool:
    return os.geteuid() == 0


def cache_dir() -> Path:
    """The harness's cache, outside the tracked tree; created on first use.

    ``$CONSTRUCTS_OBS_CACHE`` if set; else ``/var/cache/constructs-obs`` for root; else
    ``${XDG_CACHE_HOME:-~/.cache}/constructs-obs``. It holds the image root filesystems (keyed by recipe), the
    harness's Docker data root (so imported images survive between sessions), the daemon's log and the locks.
    """
    override = os.environ.get("CONSTRUCTS_OBS_CACHE")
    if override:
        path = Path(override)
    elif is_root():
        path = Path("/var/cache/constructs-obs")
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "constructs-obs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(name: str, *, shared: bool = False) -> Iterator[int]:
    """Hold an ``flock`` on ``<cache>/locks/<name>.lock`` (exclusive unless ``shared``) while in the block.

    It serializes pytest-xdist workers and concurrent sessions; the kernel releases it if the holder dies.
    """
    locks = cache_dir() / "locks"
    locks.mkdir(exist_ok=True)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)
