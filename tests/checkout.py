"""A clean copy of this work tree, as a clone would have it: what the packaging and quickstart tests build from."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stacks.synth import ROOT

#: git with an identity for the copy's one commit, whatever the machine's configuration.
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its output."""
    return subprocess.run(
        [*GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    ).stdout


def clean_copy(target: Path) -> Path:
    """The files a clone of this work tree would have (tracked and new, nothing ignored) in ``target``, committed."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "copy")
    return target
