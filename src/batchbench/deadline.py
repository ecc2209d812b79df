"""The scheduler's time limit and its signals, seen from inside a benchmark job.

A scheduler kills a job at its time limit (SIGTERM, then SIGKILL a few seconds later); a job
killed that way writes nothing and leaves a gap in runs.parquet. So the runner asks the
scheduler when the job ends, stops the benchmark a margin before, and records a `timeout` row;
and a SIGTERM for any other reason (scancel, preemption) interrupts the run so the record is
still written. Standard library only: every job imports this.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager

# Room to kill llama.cpp, write the record and let Snakemake finish the job inside the limit.
MARGIN_S = 30


class Interrupted(Exception):  # noqa: N818 - a signal, not an error of ours
    """A SIGTERM/SIGINT arrived: stop the benchmark and write the record."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def interruptible():
    """SIGTERM and SIGINT raise Interrupted in the runner (instead of ending it at once); once:
    a second signal while the record is written is ignored."""
    fired = False

    def handler(signum, _frame):
        nonlocal fired
        if not fired:
            fired = True
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def parse_slurm_duration(text: str) -> float | None:
    """Seconds of a SLURM time limit ([days-]hours:minutes:seconds, minutes:seconds, minutes);
    None for UNLIMITED, NOT_SET or anything else."""
    import re  # only inside a SLURM job

    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        return None
    days, a, b, c = (int(g) if g else None for g in match.groups())
    if c is not None:
        hours, minutes, seconds = a, b, c
    elif b is not None:
        hours, minutes, seconds = (a, b, 0) if days is not None else (0, a, b)
    else:
        hours, minutes, seconds = (a, 0, 0) if days is not None else (0, a, 0)
    return (((days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def format_duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600:.0f}-hour"
    if seconds % 60 == 0:
        return f"{seconds // 60:.0f}-minute"
    return f"{seconds:.0f}-second"


class Deadline:
    """When the scheduler ends this job (monotonic clock) and how long its limit is (a plain
    class: `dataclasses` would cost every job its import)."""

    __slots__ = ("end", "limit_s", "margin_s")

    def __init__(self, end: float | None = None, limit_s: float | None = None, margin_s: float = MARGIN_S):
        self.end = end          # time.monotonic() at the scheduler's end time
        self.limit_s = limit_s  # the job's time limit
        self.margin_s = margin_s

    def __repr__(self) -> str:
        return f"Deadline(end={self.end!r}, limit_s={self.limit_s!r}, margin_s={self.margin_s!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Deadline) and (self.end, self.limit_s, self.margin_s) == (
            other.end, other.limit_s, other.margin_s)

    def budget(self, timeout_s: float | None) -> tuple[float | None, bool]:
        """(seconds an attempt may run, whether the scheduler's limit is what bounds it)."""
        if self.end is None:
            return timeout_s, False
        left = max(self.end - self.margin_s - time.monotonic(), 0.0)
        if timeout_s is None or left < timeout_s:
            return left, True
        return timeout_s, False

    def reason(self) -> str:
        limit = f"the scheduler's {format_duration(self.limit_s)} limit" if self.limit_s else \
            "the scheduler's time limit"
        return f"stopped {self.margin_s:.0f} s before {limit}"

    def near(self) -> bool:
        """Whether a SIGTERM now is the scheduler's time limit rather than a cancel."""
        return self.end is not None and time.monotonic() >= self.end - self.margin_s


def slurm_deadline(env: dict | None = None, margin_s: float = MARGIN_S) -> Deadline:
    """The running SLURM job's end time, from squeue (no deadline outside SLURM, with no time
    limit, or when squeue does not answer: then only the per-job timeout applies)."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    if not job:
        return Deadline(margin_s=margin_s)
    try:
        out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%e|%l"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        end_text, limit_text = out.splitlines()[0].split("|")
        from datetime import datetime  # only inside a SLURM job

        end_wall = datetime.strptime(end_text, "%Y-%m-%dT%H:%M:%S").timestamp()  # local time
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return Deadline(margin_s=margin_s)
    return Deadline(end=time.monotonic() + end_wall - time.time(),
                    limit_s=parse_slurm_duration(limit_text), margin_s=margin_s)
