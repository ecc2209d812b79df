"""Entries of the shared cache (builds, models), safe when many nodes share it.

An entry is made in a private folder beside it and published with one atomic rename of that
folder, so a reader sees a whole entry or none, and a published entry is never written again
(another node may be running its binaries). One maker at a time per entry holds a lock file
made with an exclusive create (which parallel filesystems honour where `flock` may not),
naming its host and pid; the holder touches it while it works. A lock is stale when its holder
is a dead process on this host, or when nobody touched it for STALE_S (a holder on a lost node).
If a stale rule ever misjudges, two makers build in their own folders and the second rename
fails: its copy is discarded and the published one used, so correctness never rests on the lock.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_S = 300       # a holder touches its lock every HEARTBEAT_S; silent this long, it is gone
HEARTBEAT_S = 30
POLL_S = 2.0


def holder() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}


def read_holder(lock: Path) -> dict | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(lock: Path, stale_s: float = STALE_S) -> bool:
    """Whether the lock's holder is gone (see the module's note)."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False  # released meanwhile: not stale, just free
    info = read_holder(lock)
    if info and info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not pid_alive(info["pid"])
    return age > stale_s


def try_lock(lock: Path) -> bool:
    """Take the lock with an exclusive create; False if someone holds it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(holder(), f)
    return True


def break_stale(lock: Path, log) -> None:
    """Move a stale lock aside (a rename: of two breakers, one wins, the other finds nothing)."""
    aside = lock.with_name(f"{lock.name}.stale-{secrets.token_hex(4)}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return
    log.write(f"took over the stale lock {lock} ({read_holder(aside)})\n")
    aside.unlink(missing_ok=True)


@contextmanager
def heartbeat(lock: Path, every_s: float = HEARTBEAT_S) -> Iterator[None]:
    """Touch the lock while the block runs, so waiters on other nodes see its holder alive."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every_s):
            try:
                os.utime(lock)
            except OSError:
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def publish_once(entry: Path, make: Callable[[Path], None], published: Callable[[Path], bool],
                 log, stale_s: float = STALE_S, poll_s: float = POLL_S) -> bool:
    """Make `entry` unless it is published: `make(folder)` fills a private folder, which is
    renamed onto `entry`. Waits while another process makes it. True if this call made it."""
    lock = entry.with_name(entry.name + ".lock.json")
    waited = False
    while not published(entry):
        if not try_lock(lock):
            if is_stale(lock, stale_s):
                break_stale(lock, log)
            elif not waited:
                log.write(f"waiting for {read_holder(lock)} to finish {entry}\n")
                log.flush()
                waited = True
            time.sleep(poll_s)
            continue
        try:
            with heartbeat(lock):
                if published(entry):
                    return False
                return _make(entry, make, published, log)
        finally:
            lock.unlink(missing_ok=True)
    return False


def _make(entry: Path, make: Callable[[Path], None], published: Callable[[Path], bool], log) -> bool:
    if entry.exists():  # a half-made entry of an older layout: set aside, never reused
        os.rename(entry, entry.with_name(f".broken-{entry.name}-{secrets.token_hex(4)}"))
    private = entry.with_name(f".making-{entry.name}-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(private, ignore_errors=True)
    private.mkdir(parents=True)
    try:
        make(private)
        try:
            os.rename(private, entry)  # atomic; refused if a (wrongly judged) rival published first
        except OSError:
            if not published(entry):
                raise
            log.write(f"{entry} was published meanwhile by another maker; using it\n")
            return False
        return True
    finally:
        shutil.rmtree(private, ignore_errors=True)


def default_cache_dir() -> Path:
    return Path(os.environ.get("BATCHBENCH_CACHE") or Path.home() / ".cache" / "batchbench")


def cache_dir_of(config: dict) -> Path:
    """Where builds and synthetic models are cached (read by each setup job, not a param of it:
    where the cache is changes nothing measured)."""
    return Path(config.get("cache_dir") or default_cache_dir()).expanduser().resolve()
