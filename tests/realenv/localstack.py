"""LocalStack (``localstack-core``, Apache-2.0) in host mode: no Docker, no account, no network.

It needs Python >= 3.12: pyenv's 3.13 (on the machine image) gets a venv of its own in ``<cache>/localstack/venv``
(outside the checkout, shared by the worktrees and runs of this machine), with the pins that make it start here:
:data:`PACKAGES`. :func:`localstack` starts it on a free loopback port with its own data folders, waits until it
answers, yields its endpoint and stops it by its own PID (its process group, which it leads).

Started with ``GATEWAY_SERVER=hypercorn``: the default server ignores the host of ``GATEWAY_LISTEN`` and listens on
every interface. ``DISABLE_EVENTS=1`` turns off LocalStack's own usage analytics (not EventBridge).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realenv.env import cache_dir, file_lock, unavailable

#: The interpreter LocalStack runs on (pyenv's, on the machine image); ``$CONSTRUCTS_OBS_PYTHON313`` overrides.
PYTHON = os.environ.get("CONSTRUCTS_OBS_PYTHON313", "/root/.pyenv/versions/3.13.0/bin/python")
#: What is installed into the venv (pins found by trying: newer cbor2, pyopenssl or cryptography break it).
PACKAGES = ("localstack-core[runtime]==2026.3.0", "cbor2<6", "pyopenssl==25.3.0", "cryptography==46.0.5")
READY_TIMEOUT = 90.0
#: LocalStack's fixed account and the credentials it accepts.
ACCOUNT = "000000000000"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def venv_python() -> Path:
    """The venv's interpreter, installing the venv on first use (skip, or fail under CI=true, when it cannot)."""
    root = cache_dir() / "localstack"
    root.mkdir(exist_ok=True)
    python = root / "venv" / "bin" / "python"
    stamp = root / "venv" / ".installed"
    with file_lock("localstack-venv"):
        if stamp.is_file() and stamp.read_text() == "\n".join(PACKAGES):
            return python
        if not Path(PYTHON).is_file():
            unavailable(f"LocalStack needs Python 3.13 at {PYTHON} (pyenv install 3.13.0)")
        if not python.is_file():
            subprocess.run([PYTHON, "-m", "venv", str(root / "venv")], check=True, timeout=300)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        if result.returncode != 0:
            unavailable(f"pip could not install LocalStack ({' '.join(PACKAGES)}):\n{result.stderr[-2000:]}")
        stamp.write_text("\n".join(PACKAGES))
    return python


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LocalStack:
    """A running LocalStack: its endpoint, its process id and its log file."""

    endpoint: str
    pid: int
    log: Path

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of ``service`` in ``region`` against this LocalStack."""
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, **CREDENTIALS)


@contextlib.contextmanager
def localstack() -> Iterator[LocalStack]:
    """Start LocalStack on a free loopback port and stop it (by its PID) when the block ends."""
    python = venv_python()
    work = Path(tempfile.mkdtemp(prefix="constructs-obs-localstack-"))
    for folder in ("data", "fs", "tmp"):
        (work / folder).mkdir()
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))},
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "GATEWAY_SERVER": "hypercorn",
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "LOCALSTACK_VOLUME_DIR": str(work / "data"),
        "FILESYSTEM_ROOT": str(work / "fs"),
        "TMPDIR": str(work / "tmp"),
    }
    log = work / "localstack.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # its own session: the group it leads is stopped with it
            [str(python), "-m", "localstack.runtime.main"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"LocalStack exited {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"LocalStack did not answer in {READY_TIMEOUT} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield LocalStack(endpoint=endpoint, pid=process.pid, log=log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
