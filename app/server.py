"""Start the app as `make run` does (`streamlit run app/main.py`) and wait until it answers.

For the tests and benchmarks that need a live server: :func:`start` launches it on a port and
address with the given environment, polls ``/_stcore/health`` and raises
:class:`ServerFailed`, with the end of the server's log, if it exits or does not answer in
time; :func:`stop` ends it. Nothing here imports Streamlit: the server is a child process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAIN = "app/main.py"  # relative to REPO, where .streamlit/config.toml is read from
LOG_TAIL = 3000  # characters of the server's log quoted when it fails


class ServerFailed(RuntimeError):
    """The server exited, or did not answer its health check in time."""


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path
    own_log: bool  # a temporary log file, removed by stop()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            return ""


def free_port(address: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def run_args(port: int, address: str = "127.0.0.1", *, watch_files: bool = True) -> list[str]:
    """The arguments of ``streamlit`` that serve the app as `make run` does
    (``watch_files=False``: no file watcher, for servers that only tests talk to)."""
    args = ["run", MAIN, "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return args + ([] if watch_files else ["--server.fileWatcherType", "none"])


def start(port: int | None = None, address: str = "127.0.0.1", *, env: dict | None = None,
          log: Path | None = None, watch_files: bool = True, command: list[str] | None = None,
          timeout: float = 90.0, poll: float = 0.2, cwd: Path | None = None) -> Server:
    """Start ``python -m streamlit`` + :func:`run_args` (or ``command``, which must serve on
    ``port``) in the repository root (or ``cwd``, another checkout) and return once
    ``/_stcore/health`` answers 200. Output goes to ``log`` (a temporary file if None)."""
    port = free_port(address) if port is None else port
    own_log = log is None
    if log is None:
        fd, name = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
        log = Path(name)
        os.close(fd)
    command = command or [sys.executable, "-m", "streamlit",
                          *run_args(port, address, watch_files=watch_files)]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd or REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    server = Server(process, f"http://{address}:{port}", Path(log), own_log)
    try:
        wait_healthy(server, timeout, poll)
    except BaseException:
        stop(server, remove_log=False)
        raise
    return server


def answers(url: str) -> bool:
    """Whether the server at ``url`` answers its health check now."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def wait_for(url: str, timeout: float, poll: float = 1.0) -> bool:
    """Wait until the server at ``url`` answers (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not answers(url):
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def wait_healthy(server: Server, timeout: float = 90.0, poll: float = 0.2) -> None:
    """Poll the server's health endpoint until it answers 200; raise :class:`ServerFailed`
    if the process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not answers(server.url):
        if server.process.poll() is not None:
            raise ServerFailed(f"streamlit exited with code {server.process.returncode}; "
                               f"the end of {server.log}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise ServerFailed(f"streamlit did not become healthy within {timeout:.0f} s; "
                               f"the end of {server.log}:\n{server.log_tail()}")
        time.sleep(poll)


def stop(server: Server, timeout: float = 10.0, *, remove_log: bool = True) -> None:
    """Terminate the server (kill it after ``timeout`` seconds); a temporary log is removed."""
    server.process.terminate()
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.own_log and remove_log:
        server.log.unlink(missing_ok=True)


if __name__ == "__main__":  # `python -m app.server wait URL [SECONDS]`: exit 0 once it answers
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "wait":
        sys.exit("usage: python -m app.server wait URL [SECONDS]")
    sys.exit(0 if wait_for(sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 600)
             else 1)
