"""OCR child processes die with the worker that started them, even when it is SIGKILLed.

A killed process runs no clean-up code, so the children have to notice by themselves:

- Each page process (ingest.ocr.executor) puts itself and the programs it starts
  (tesseract, pdftoppm) into a process group of its own, and a thread of it waits on a
  pidfd of the worker; when the worker is gone, however it went, that thread SIGKILLs the
  group. ``PR_SET_PDEATHSIG`` cannot do this: a page process's parent is multiprocessing's
  fork server, not the worker, and the fork server stays alive as long as any page process
  does (each holds its "alive" pipe open), so neither would ever see the other die.
- Whatever still escapes (a program started by the worker itself for a one-page document,
  which has no page processes) carries a mark in its environment naming the worker process
  by pid and start time. A starting worker kills every process marked by a worker that is
  no longer alive. The start time makes a reused pid harmless, and a process without the
  mark is never touched.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Not a CHARTVAULT_ setting: nobody sets it, every process a worker starts inherits it.
OWNER_VARIABLE = "_CHARTVAULT_OCR_OWNER"
_PROC = Path("/proc")


def identity(pid: int) -> str | None:
    """"pid:start time" of a live process, or None when there is none with that pid. The
    start time (clock ticks after boot) tells a process from a later one given its pid."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22 is the start time; the name in field 2 may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # dead, only not yet reaped
        return None
    return f"{pid}:{fields[19]}"


def is_alive(owner: str) -> bool:
    pid = owner.partition(":")[0]
    return pid.isdigit() and identity(int(pid)) == owner


def mark_descendants() -> str | None:
    """Mark every process this one starts from now on as this worker's. Idempotent."""
    me = identity(os.getpid())
    if me is not None:
        os.environ[OWNER_VARIABLE] = me
    return me


def reap_leftovers() -> list[int]:
    """SIGKILL every process a dead worker left behind; returns their pids."""
    me = identity(os.getpid())
    killed = []
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        owner = _owner_of(entry)
        if owner is None or owner == me or is_alive(owner):
            continue
        try:
            os.kill(int(entry.name), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to kill after all
            continue
        killed.append(int(entry.name))
    if killed:
        log.warning("killed %d processes left behind by a dead worker: %s", len(killed), killed)
    return killed


def _owner_of(process: Path) -> str | None:
    try:
        environ = (process / "environ").read_bytes()
    except OSError:  # another user's process, or gone
        return None
    prefix = OWNER_VARIABLE.encode() + b"="
    for variable in environ.split(b"\0"):
        if variable.startswith(prefix):
            return variable[len(prefix) :].decode(errors="replace")
    return None


def die_with_parent(owner: str | None) -> None:
    """Initializer of each page process (runs in it before its first page): when the worker
    ``owner`` ends, this process and the programs it started are killed."""
    if owner is None:  # no /proc: nothing to watch with
        return
    os.setpgid(0, 0)  # the programs this process starts stay in its group
    threading.Thread(target=_watch, args=(owner,), name="lifeline", daemon=True).start()


def _watch(owner: str) -> None:
    pid = int(owner.partition(":")[0])
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: look every second instead
        pidfd = None
    # Checked after opening: the pidfd might be of a later process given the same pid.
    if pidfd is not None and is_alive(owner):
        select.select([pidfd], [], [])  # readable once the process has ended
    else:
        while is_alive(owner):
            time.sleep(1)
    _kill_own_group()


def _kill_own_group() -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)
