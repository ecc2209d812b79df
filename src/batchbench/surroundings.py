"""What a benchmark process shared its machine with, and whether that disturbed it.

Read around each benchmark process by the job runner (standard library only, Linux first):
the process's own CPU time, involuntary context switches and major page faults (the runner's
RUSAGE_CHILDREN before and after, so they are the benchmark's alone), and the machine's CPU and
memory pressure (/proc/pressure, PSI) and CPU steal (/proc/stat) over the same wall time. A
counter the machine does not offer is None (PSI is disabled on some kernels), never a guess.
`verdict` turns the counters into `disturbed` and a reason a person understands, by the limits
of the run policy (batchbench.policy); `wait_for_quiet` holds a re-measurement back until the
disturbance has passed (or a bounded wait is over).
"""

from __future__ import annotations

import os
import resource
import time

PRESSURE_FILES = {"cpu": "/proc/pressure/cpu", "memory": "/proc/pressure/memory"}


def _pressure_totals(path: str) -> dict[str, int] | None:
    """{'some': µs, 'full': µs} stalled since boot, or None without PSI."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    totals = {}
    for line in lines:
        kind, *fields = line.split()
        values = dict(field.split("=", 1) for field in fields if "=" in field)
        if "total" in values:
            totals[kind] = int(values["total"])
    return totals or None


def _cpu_ticks(path: str = "/proc/stat") -> tuple[int, int] | None:
    """(steal, all) ticks of every CPU since boot, or None where /proc/stat is missing."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    ticks = [int(v) for v in fields[1:]]
    # guest time is already counted in user time: the first 8 fields are the whole
    return ticks[7], sum(ticks[:8])


class Snapshot:
    """The counters at one moment (a plain class: `dataclasses` would cost every job its import)."""

    __slots__ = ("wall", "children", "pressure", "ticks")

    def __init__(self, wall: float, children: resource.struct_rusage,
                 pressure: dict[str, dict[str, int] | None], ticks: tuple[int, int] | None):
        self.wall, self.children, self.pressure, self.ticks = wall, children, pressure, ticks

    def __repr__(self) -> str:
        return (f"Snapshot(wall={self.wall!r}, children={self.children!r}, pressure={self.pressure!r}, "
                f"ticks={self.ticks!r})")

    @classmethod
    def take(cls, pressure_files: dict[str, str] = PRESSURE_FILES, stat: str = "/proc/stat") -> Snapshot:
        return cls(time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN),
                   {k: _pressure_totals(p) for k, p in pressure_files.items()}, _cpu_ticks(stat))


def usable_cpus() -> set[int] | None:
    """The CPUs this job may run on (None where the platform does not say)."""
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return None


def available_cpus() -> int:
    cpus = usable_cpus()
    return len(cpus) if cpus else os.cpu_count() or 1


def _idle_ticks(cpus: set[int] | None, path: str = "/proc/stat") -> tuple[int, int, int] | None:
    """(idle, all ticks, CPUs counted) since boot of the CPUs in `cpus` (all: None), or None
    where /proc/stat is missing; waiting for a disk counts as idle (the CPU was free)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    idle = total = counted = 0
    for line in lines:
        name, *fields = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit() and len(fields) >= 8):
            continue
        if cpus is None or int(name[3:]) in cpus:
            ticks = [int(v) for v in fields[:8]]
            idle, total, counted = idle + ticks[3] + ticks[4], total + sum(ticks), counted + 1
    return (idle, total, counted) if counted else None


class Calm:
    """The CPUs this job may use and the machine's CPU pressure at one moment (a plain class, as
    Snapshot)."""

    __slots__ = ("wall", "idle", "pressure")

    def __init__(self, wall: float, idle: tuple[int, int, int] | None, pressure: dict[str, int] | None):
        self.wall, self.idle, self.pressure = wall, idle, pressure

    def __repr__(self) -> str:
        return f"Calm(wall={self.wall!r}, idle={self.idle!r}, pressure={self.pressure!r})"

    @classmethod
    def take(cls, cpus: set[int] | None = None, stat: str = "/proc/stat",
             pressure: str = PRESSURE_FILES["cpu"]) -> Calm:
        return cls(time.monotonic(), _idle_ticks(cpus, stat), _pressure_totals(pressure))


def calm_between(before: Calm, after: Calm) -> tuple[float | None, float | None]:
    """(free CPUs: how many of the usable CPUs were idle on average, CPU pressure: share of the
    time some task waited for a CPU) between two moments; None where unknown."""
    free = pressure = None
    if before.idle and after.idle and after.idle[1] > before.idle[1]:
        free = after.idle[2] * (after.idle[0] - before.idle[0]) / (after.idle[1] - before.idle[1])
    wall = after.wall - before.wall
    if before.pressure and after.pressure and "some" in before.pressure and "some" in after.pressure and wall > 0:
        pressure = min((after.pressure["some"] - before.pressure["some"]) / 1e6 / wall, 1.0)
    return free, pressure


def wait_for_quiet(threads: int | None, limits: dict, most_s: float, window_s: float = 0.5,
                   take=Calm.take, sleep=time.sleep) -> dict | None:
    """Before measuring a disturbed job again: wait, at most `most_s` seconds, for a window of
    `window_s` in which the usable CPUs had room for the benchmark (`min_cpu_share` of its
    `threads` idle) and the machine's CPU pressure was within `max_cpu_pressure`. A spinning
    neighbour shows as busy CPUs, not as pressure, while the benchmark is not running: both are
    needed. What the wait saw, for the attempt's record: its seconds, whether it ended quiet (None:
    no counter to judge by, then it does not wait), the last window's free CPUs and pressure.
    None when the policy says not to wait."""
    if most_s <= 0:
        return None
    cpus = usable_cpus()
    need = limits["min_cpu_share"] * min(threads or available_cpus(), available_cpus())
    start = before = take(cpus)
    if before.idle is None and before.pressure is None:
        return {"waited_s": 0.0, "quiet": None, "free_cpus": None, "cpu_pressure": None, "needed_cpus": need}
    while True:
        sleep(window_s)
        after = take(cpus)
        free, pressure = calm_between(before, after)
        quiet = (free is None or free >= need) and (pressure is None or pressure <= limits["max_cpu_pressure"])
        waited = after.wall - start.wall
        if quiet or waited + window_s > most_s:
            return {"waited_s": waited, "quiet": quiet, "free_cpus": free, "cpu_pressure": pressure,
                    "needed_cpus": need}
        before = after


def counters(before: Snapshot, after: Snapshot, threads: int | None, timed_s: float | None = None) -> dict:
    """The benchmark process's counters between two snapshots taken around it (it was waited
    for in between), with `threads` the CPU threads it was given and `timed_s` the time its own
    timers measured (T), when it printed a result.

    The CPU share is its CPU time against what an undisturbed process gets: every thread during
    the timed part, one thread outside it (start, model load, warm-up, exit), so short jobs whose
    load is most of their wall time are not taken for disturbed."""
    wall = after.wall - before.wall
    a, b = after.children, before.children
    cpu = (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
    # it cannot use more threads than the CPUs this job may run on
    usable = min(threads, available_cpus()) if threads else None
    timed = min(max(timed_s or 0.0, 0.0), wall) if timed_s is not None else wall
    expected = (timed * usable + (wall - timed)) if usable else 0
    out = {
        "wall_s": wall,
        "timed_s": timed_s,
        "cpu_time_s": cpu,
        "threads": usable,
        "cpu_share": cpu / expected if expected > 0 else None,
        "involuntary_switches": a.ru_nivcsw - b.ru_nivcsw,
        "major_faults": a.ru_majflt - b.ru_majflt,
    }
    for resource_name in PRESSURE_FILES:
        start, end = before.pressure.get(resource_name), after.pressure.get(resource_name)
        for kind in ("some", "full"):
            ok = start and end and kind in start and kind in end and wall > 0
            # the totals and the wall clock are read a moment apart: a share is at most 1
            out[f"{resource_name}_pressure_{kind}"] = min((end[kind] - start[kind]) / 1e6 / wall, 1.0) if ok else None
    steal = None
    if before.ticks and after.ticks and after.ticks[1] > before.ticks[1]:
        steal = (after.ticks[0] - before.ticks[0]) / (after.ticks[1] - before.ticks[1])
    out["cpu_steal"] = steal
    return out


def verdict(c: dict, limits: dict) -> list[str]:
    """Why these counters say the measurement was disturbed ([] when it was not), in words;
    `limits` is the run policy (batchbench.policy, where the defaults are)."""
    reasons = []
    if c.get("cpu_share") is not None and c["cpu_share"] < limits["min_cpu_share"]:
        reasons.append(f"the benchmark got {c['cpu_share'] * c['threads']:.1f} of its {c['threads']} "
                       f"threads' CPU time ({c['cpu_share']:.0%}; at least {limits['min_cpu_share']:.0%} expected)")
    if c.get("cpu_pressure_some") is not None and c["cpu_pressure_some"] > limits["max_cpu_pressure"]:
        reasons.append(f"the machine's CPU was contended for {c['cpu_pressure_some']:.0%} of the job "
                       f"(at most {limits['max_cpu_pressure']:.0%} allowed)")
    if c.get("memory_pressure_some") is not None and c["memory_pressure_some"] > limits["max_memory_pressure"]:
        reasons.append(f"tasks waited for memory for {c['memory_pressure_some']:.0%} of the job "
                       f"(at most {limits['max_memory_pressure']:.0%} allowed)")
    if c.get("cpu_steal") is not None and c["cpu_steal"] > limits["max_steal"]:
        reasons.append(f"the hypervisor took {c['cpu_steal']:.0%} of the machine's CPU time (steal; "
                       f"at most {limits['max_steal']:.0%} allowed)")
    return reasons
