"""Run real nginx and uvicorn/FastAPI on loopback and return the log lines they write.

The tests of the log-pattern alarms check the metric-filter patterns on these lines, never on lines written to
fit a pattern. Each function starts its program in a temporary directory, makes real HTTP requests, stops the
program and returns what it wrote, one string per line: Docker's awslogs driver ships one CloudWatch event per
output line, so these are the events a metric filter would see (a later test can push the same lines through the
real driver).

- :func:`nginx_access_lines` (and :func:`nginx_run`, with the error log too) runs Debian's nginx (``nginx-light``) with its own prefix, config, pid file, temp
  paths and logs in a temporary directory (no root-owned path is written), ``daemon off`` and one process.
- :func:`uvicorn_output_lines` runs ``python -m uvicorn`` on a small FastAPI app (:data:`FASTAPI_APP`), with
  stdout and stderr into one file and no TTY, as in a container without ``tty: true``.

Ports are picked free at run time, so the tests using these helpers run in parallel under pytest-xdist.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.realenv.env import in_ci

#: The official nginx image's log format, verbatim from its ``/etc/nginx/nginx.conf``: nginxinc/docker-nginx
#: ``mainline/alpine/nginx.conf`` (before commit 0501f0b, 2019, which switched the image to nginx.org's packages
#: shipping the same file) and ``.test/tests/modules/nginx.conf.sme`` (commit b430becb, 2025); the image's
#: Dockerfile links ``/var/log/nginx/access.log`` to ``/dev/stdout``. Ten fields: ``combined`` plus
#: ``"$http_x_forwarded_for"``.
DOCKER_NGINX_MAIN_LOG_FORMAT = """\
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
"""

#: How long any one program may take to start, answer or stop.
TIMEOUT = 20.0


def require_program(name: str) -> str:
    """The path of executable ``name``; skip the test without it, except in CI (``CI=true``), where it fails."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        message = (
            f"{name} is not installed (Debian: apt-get install -y nginx-light; scripts/setup.sh installs it)"
        )
        if in_ci():
            pytest.fail(f"{message}; CI must run this test, not skip it")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on ``port``; fail with ``log`` if ``process`` dies first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"nothing listens on 127.0.0.1:{port} after {TIMEOUT}s:\n{log.read_text(errors='replace')}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` (SIGTERM, then SIGKILL after :data:`TIMEOUT`) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)


def lines_of(path: Path) -> list[str]:
    """The lines of a log file, as the awslogs driver would ship them (one event per line, no newline)."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


@dataclass(frozen=True)
class RawRequest:
    """An HTTP/1.1 request sent byte for byte, for request lines and headers a well-behaved client would not send.

    ``target`` goes into the request line unchanged (spaces, quotes, brackets and all).
    """

    target: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()

    def send(self, port: int) -> bytes:
        """Send the request on a new connection and return the raw response (or b"" if the server closed)."""
        head = [f"{self.method} {self.target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in self.headers]
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(data)
            chunks = []
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        return b"".join(chunks)


def basic_auth(user: str) -> tuple[str, str]:
    """An ``Authorization: Basic`` header for ``user`` (nginx logs it as ``$remote_user``, spaces and all)."""
    token = base64.b64encode(f"{user}:x".encode()).decode()
    return ("Authorization", f"Basic {token}")


def get(port: int, path: str) -> int:
    """GET ``path`` with urllib (which sends the path as given, already URL-encoded); the HTTP status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


# --------------------------------------------------------------------------------------------------------------
# nginx


@dataclass(frozen=True)
class NginxRun:
    """What one nginx run wrote: its access-log lines and its error-log lines."""

    access: list[str]
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _silent_upstream() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (nginx's proxy_read_timeout gives a 504)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _nginx_conf(prefix: Path, port: int, log_format: str, closed_port: int, silent_port: int) -> str:
    formats = {"main": DOCKER_NGINX_MAIN_LOG_FORMAT, "combined": ""}  # combined is built into nginx
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return textwrap.dedent(
        """\
        daemon off;
        master_process off;
        worker_processes 1;
        pid {prefix}/nginx.pid;
        error_log {prefix}/error.log notice;
        events {{ worker_connections 64; }}
        http {{
            default_type text/plain;
        {formats}
            access_log {prefix}/access.log {log_format};
        {temp}
            server {{
                listen 127.0.0.1:{port};
                root {prefix}/html;
                location /api/ {{ proxy_pass http://127.0.0.1:{closed_port}; }}
                location /slow/ {{
                    proxy_pass http://127.0.0.1:{silent_port};
                    proxy_read_timeout 1s;
                }}
                location = /fail {{ return 500; }}
                location = /maintenance {{ return 503; }}
            }}
        }}
        """
    ).format(
        prefix=prefix,
        formats=formats[log_format],
        log_format=log_format,
        temp=temp,
        port=port,
        closed_port=closed_port,
        silent_port=silent_port,
    )


#: The requests :func:`nginx_access_lines` makes by default, with the status nginx answers.
NGINX_REQUESTS: tuple[tuple[str, int], ...] = (
    ("/index.html", 200),  # a static file
    ("/missing.png", 404),
    ("/api/v1/lessons", 502),  # proxy_pass to a closed port: connect() refused
    ("/api/v1/lessons?page=2&sort=title", 502),
    ("/slow/chat", 504),  # the upstream accepts and never answers
    ("/fail", 500),
    ("/maintenance", 503),
)


def nginx_access_lines(
    log_format: str,
    requests: Sequence[tuple[str, int]] = NGINX_REQUESTS,
    raw_requests: Sequence[RawRequest] = (),
) -> list[str]:
    """The access-log lines of :func:`nginx_run`: one per request, in the order the requests were made."""
    return nginx_run(log_format, requests, raw_requests).access


def nginx_run(
    log_format: str,
    requests: Sequence[tuple[str, int]] = NGINX_REQUESTS,
    raw_requests: Sequence[RawRequest] = (),
) -> NginxRun:
    """Run nginx logging in ``log_format`` (``"main"``, the official image's, or ``"combined"``), make requests.

    ``requests`` are ``(path, expected status)`` pairs fetched with urllib (a wrong status fails the call: the
    lines would not be what the test thinks), then ``raw_requests`` are sent as they are. Returns the lines of
    the access log and of the error log, after nginx has stopped.
    """
    nginx = require_program("nginx")
    if log_format not in ("main", "combined"):
        raise ValueError(f"log_format must be 'main' or 'combined', got {log_format!r}")
    with tempfile.TemporaryDirectory(prefix="nginx-") as tmp, _silent_upstream() as silent_port:
        prefix = Path(tmp)
        (prefix / "html").mkdir()
        (prefix / "html" / "index.html").write_text("<h1>ok</h1>\n")
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / kind).mkdir(parents=True)
        port, closed_port = free_port(), free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(_nginx_conf(prefix, port, log_format, closed_port, silent_port))
        output = prefix / "stderr.log"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, output)
            for path, expected in requests:
                status = get(port, path)
                if status != expected:
                    raise AssertionError(f"nginx answered {status} to GET {path}, expected {expected}")
            for raw in raw_requests:
                raw.send(port)
        finally:
            stop(process)
        return NginxRun(access=lines_of(prefix / "access.log"), errors=lines_of(prefix / "error.log"))


# --------------------------------------------------------------------------------------------------------------
# uvicorn / FastAPI

#: The app uvicorn serves. Loggers as a FastAPI app would set them up: ``app`` through ``logging.basicConfig``
#: (Python's default format, ``ERROR:app:message``) and ``app.common`` with the common
#: ``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` format. ``/search`` logs the client's query at INFO,
#: as apps do; ``/boom`` raises with the client's text in the exception message.
FASTAPI_APP = """\
import logging
import sys

from fastapi import FastAPI

logging.basicConfig(stream=sys.stderr, level=logging.INFO)
log = logging.getLogger("app")
common = logging.getLogger("app.common")
common.propagate = False
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
common.addHandler(_handler)

app = FastAPI()


@app.get("/")
def index() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/search")
def search(q: str = "") -> dict[str, str]:
    log.info("search for %s", q)
    common.info("search for %s", q)
    return {"q": q}


@app.get("/boom")
def boom(q: str = "17") -> dict[str, str]:
    raise ValueError(f"lesson {q} not found")


@app.get("/log-error")
def log_error() -> dict[str, str]:
    log.error("LLM call failed after 3 retries: ReadTimeout")
    return {"status": "logged"}


@app.get("/log-critical")
def log_critical() -> dict[str, str]:
    log.critical("database unreachable")
    return {"status": "logged"}


@app.get("/log-error-common")
def log_error_common() -> dict[str, str]:
    common.error("could not connect to server: Connection refused")
    return {"status": "logged"}


@app.get("/{path:path}")
def anything(path: str) -> dict[str, str]:
    return {"path": path}
"""


def uvicorn_output_lines(
    requests: Sequence[RawRequest], *, second_server_on_same_port: bool = False
) -> list[str]:
    """Serve :data:`FASTAPI_APP` with uvicorn, send ``requests`` one after the other, return its output lines.

    stdout and stderr go to one file (as both go to the container's log), with no TTY, so uvicorn writes no
    colours. With ``second_server_on_same_port``, a second uvicorn is started on the busy port before stopping
    the first, and its output (``ERROR:    [Errno 98] ...``) is appended.
    """
    with tempfile.TemporaryDirectory(prefix="uvicorn-") as tmp:
        directory = Path(tmp)
        (directory / "tutorapp.py").write_text(FASTAPI_APP)
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "tutorapp:app", "--app-dir", tmp, "--host", "127.0.0.1"]
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}
        env["PYTHONUNBUFFERED"] = "1"
        output = directory / "output.log"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, output)
            for request in requests:
                request.send(port)
            if second_server_on_same_port:
                second = directory / "second.log"
                with second.open("wb") as out:
                    subprocess.run(
                        [*command, "--port", str(port)],
                        cwd=tmp,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=TIMEOUT,
                        check=False,
                    )
        finally:
            stop(process)
        lines = lines_of(output)
        if second_server_on_same_port:
            lines += lines_of(directory / "second.log")
        return lines
