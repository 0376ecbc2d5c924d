"""Finding and stopping the local servers: /proc (or ps) read by PID, command lines matched by name, and
process groups signalled only after /proc confirms the PID is an ocrkit local server (a recycled PID is
never touched). Ports: a free one, and whether one still accepts connections.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from ocrkit.providers.local.run import MODULE


@dataclass(frozen=True)
class ServerProcess:
    """A running local server, as found in /proc."""

    pid: int
    name: str | None
    argv: list[str]


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port_closed(host: str, port: int, *, timeout_s: float) -> bool:
    until = time.monotonic() + timeout_s
    while port_open(host, port):
        if time.monotonic() >= until:
            return False
        time.sleep(0.1)
    return True


def _has_proc() -> bool:
    return os.path.isdir("/proc/self")


def _ps(pid: int, field: str) -> str | None:
    """One `ps` column for a PID (systems without /proc, such as macOS)."""
    try:
        done = subprocess.run(
            ["ps", "-ww", "-p", str(pid), "-o", f"{field}="], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _cmdline(pid: int) -> list[str] | None:
    if not _has_proc():
        command = _ps(pid, "command")
        return command.split() if command else None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    if not _has_proc():
        return (_ps(pid, "stat") or "").startswith("Z")
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def _ppid(pid: int) -> int | None:
    if not _has_proc():
        value = _ps(pid, "ppid")
    else:
        fields = _stat_fields(pid)
        value = fields[1] if fields and len(fields) > 1 else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _all_pids() -> list[int]:
    if _has_proc():
        try:
            return [int(e) for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return []
    try:
        done = subprocess.run(["ps", "-axo", "pid="], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(x) for x in done.stdout.split() if x.isdigit()]


def is_our_server(pid: int) -> bool:
    """True while `pid` is a live ocrkit local server process (the gunicorn arbiter we started)."""
    if pid <= 0:
        return False
    _reap(pid)
    argv = _cmdline(pid)
    if not argv or _is_zombie(pid):
        return False
    return _is_server_argv(argv)


def _is_server_argv(argv: list[str]) -> bool:
    return "-m" in argv and MODULE in argv


def _name_in(argv: list[str]) -> str | None:
    if "--name" in argv:
        i = argv.index("--name")
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def all_servers() -> list[ServerProcess]:
    """Every ocrkit local server on this machine, whatever its deployment name (by command line)."""
    found = []
    for pid in _all_pids():
        argv = _cmdline(pid)
        if not argv or not _is_server_argv(argv) or _is_zombie(pid):
            continue
        # Only the arbiter: gunicorn workers are forked children with the same command line.
        parent = _ppid(pid)
        if parent is not None and _cmdline(parent) == argv:
            continue
        found.append(ServerProcess(pid, _name_in(argv), argv))
    return sorted(found, key=lambda s: s.pid)


def find_servers(name: str) -> list[ServerProcess]:
    """Local servers started for deployment `name` (by their command line), on this machine."""
    return [server for server in all_servers() if server.name == name]


def _reap(pid: int) -> None:
    """Collect the exit status of a server this process started (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, sig: int) -> None:
    """Signal the server's process group (the arbiter and its workers), or the PID alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop(pids: list[int], grace_s: float) -> None:
    """SIGTERM (gunicorn: graceful stop), then SIGKILL to what is still there after `grace_s`.

    Signals go to the server's process group (the arbiter and its workers) while the arbiter still
    holds that group id, so a group is never signalled after its id could have been reused."""
    live = [pid for pid in pids if is_our_server(pid)]
    for pid in live:
        _signal(pid, signal.SIGTERM)
    until = time.monotonic() + grace_s
    while time.monotonic() < until and any(is_our_server(pid) for pid in live):
        time.sleep(0.1)
    for pid in live:
        if is_our_server(pid):
            _signal(pid, signal.SIGKILL)
    until = time.monotonic() + 5.0
    while time.monotonic() < until and any(is_our_server(pid) for pid in live):
        time.sleep(0.05)
