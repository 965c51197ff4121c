"""Processes by PID and process group: free ports, liveness, identity, and stopping exactly what we started.

Nothing here knows which service runs; the local stack, the pipeline process and the
tests all stop what they started through ``stop_group``. A PID alone does not name a
process for long: once it exits, the kernel may hand the number to an unrelated one, so
whoever records a PID to signal it later records its ``ProcessIdentity`` too. Linux only
(``/proc``), like the rest of the local stack.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_CHOSEN_PORT = 10_000  # below this sit the well-known and registered services
_handed_out: set[int] = set()


@cache
def _outside_ephemeral_range() -> tuple[int, ...]:
    """The ports ``free_port`` chooses from: from 10,000 up, none in the kernel's ephemeral range."""
    try:
        low, high = map(int, _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return (*range(_LOWEST_CHOSEN_PORT, low), *range(high + 1, 65536))


def free_port() -> int:
    """A port free on 127.0.0.1 now, never handed out before by this process, and outside
    the kernel's ephemeral range.

    Why not ``bind(0)``: the kernel answers it from the range it also gives every outgoing
    connection, and a service binds its port seconds later (the collector only after
    provisioning has opened many connections). In that gap a client socket took the port
    once in CI ("port 48901 ... is taken by another process"). Outside that range only a
    process that asks for the port by number can take it."""
    ports, chooser = _outside_ephemeral_range(), random.SystemRandom()
    for _ in range(1000 if ports else 0):
        port = chooser.choice(ports)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    # Every port outside the ephemeral range is taken or handed out: take what the kernel gives.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells a process from a later one that got the same PID: the boot it ran in, its
    start time (clock ticks after boot, ``/proc/<pid>/stat`` field 22; fixed at fork, so an
    ``exec`` keeps it) and its command line (``None``: not recorded yet, e.g. before a
    wrapper script has exec'd the real program)."""

    boot_id: str
    start_ticks: int
    cmdline: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        return {"boot_id": self.boot_id, "start_ticks": self.start_ticks, "cmdline": self.cmdline}

    @classmethod
    def from_json(cls, data: object) -> ProcessIdentity | None:
        """The identity a record holds; ``None`` for a record without one (or a garbled one)."""
        if not isinstance(data, dict):
            return None
        try:
            cmdline = data.get("cmdline")
            return cls(str(data["boot_id"]), int(data["start_ticks"]), None if cmdline is None else tuple(cmdline))
        except (KeyError, TypeError, ValueError):
            return None

    def matches(self, current: ProcessIdentity | None) -> bool:
        """True when ``current`` (what runs under the PID now) is the process this identity recorded."""
        return (
            current is not None
            and current.boot_id == self.boot_id
            and current.start_ticks == self.start_ticks
            and (self.cmdline is None or current.cmdline == self.cmdline)
        )


def identity(pid: int) -> ProcessIdentity | None:
    """Who runs under ``pid`` now; ``None`` when nothing (or only a zombie) does."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw_cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        boot_id = _BOOT_ID.read_text().strip()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ")".
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    cmdline = tuple(os.fsdecode(arg) for arg in raw_cmdline.split(b"\0")[:-1])
    return ProcessIdentity(boot_id, int(fields[19]), cmdline)


def is_same_process(pid: int, recorded: ProcessIdentity | None) -> bool:
    """True when ``pid`` is still the process ``recorded`` describes. Without a recorded
    identity nothing can be proved, so the answer is False: better to leave a process
    running than to signal a stranger."""
    alive(pid)  # reaps it if it is our own exited child
    return recorded is not None and recorded.matches(identity(pid))


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left in the group count as gone.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_group(pgid: int, pid: int, timeout: float = 15.0, kill: bool = False) -> bool:
    """SIGTERM a process group, then SIGKILL what is left after ``timeout`` seconds (``kill``
    goes straight to SIGKILL, to play a crash); True when something was running."""
    if not group_alive(pgid):
        return False
    steps = ((signal.SIGKILL, 5.0),) if kill else ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0))
    for sig, wait in steps:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(pgid):
            alive(pid)  # reaps our own child
            time.sleep(0.1)
        if not group_alive(pgid):
            break
    return True


SERVICES = ("pubsub", "bigquery")
