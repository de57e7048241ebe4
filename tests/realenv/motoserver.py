"""A moto server (``python -m moto.server``) on a free loopback port, in its own process.

A separate process keeps its state apart from the in-process ``mock_aws`` of other tests; Docker's ``awslogs``
driver (inside the daemon) reaches it at :attr:`MotoServer.endpoint`.
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

START_TIMEOUT = 30.0


class MotoServer:
    """A running moto server. ``endpoint`` is ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False)  # noqa: SIM115
        for _ in range(3):  # the free port may be taken between probing and binding
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            self.endpoint = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"moto server did not start; its log: {self._log.name}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2):  # noqa: S310
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        return False

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client for ``service`` against this server (credentials ``testing``)."""
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )

    def logs(self, region: str = "us-east-1") -> CloudWatchLogsClient:
        """A CloudWatch Logs client against this server."""
        client: CloudWatchLogsClient = self.client("logs", region)
        return client

    def stop(self) -> None:
        """Stop the server process."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_server: MotoServer | None = None
_guard = threading.Lock()


def moto_server() -> MotoServer:
    """This process's moto server, started on first use (stopped by :func:`stop_moto_server` or at exit)."""
    global _server
    with _guard:
        if _server is None or _server.process.poll() is not None:
            _server = MotoServer()
            atexit.register(stop_moto_server)
        return _server


def moto_endpoint() -> str:
    """``http://127.0.0.1:PORT`` of :func:`moto_server`."""
    return moto_server().endpoint


def logs_client(region: str = "us-east-1") -> CloudWatchLogsClient:
    """A boto3 CloudWatch Logs client against :func:`moto_server`."""
    return moto_server().logs(region)


def stop_moto_server() -> None:
    """Stop this process's moto server, if any."""
    global _server
    with _guard:
        if _server is not None:
            _server.stop()
            _server = None
