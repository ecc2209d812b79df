"""Run one benchmark combination and write its record, whatever happens.

Called by the `bench_run` rule as `python -m batchbench.bench_job ...`. It imports only the
standard library (plus this package's light modules), because every job pays for its imports.
A benchmark that crashes, times out or prints no result still gives a record with a `status`
and a `reason`; the record is written atomically, so a half-written file is never a result.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time

from . import host, surroundings
from .deadline import Deadline, Interrupted, interruptible, slurm_deadline
from .files import write_json_atomic
from .llama_options import bench_argv
from .parse import result_rows
from .policy import policy_from_environment, run_policy
from .record import FAILED, OK, TIMEOUT, measured

STDERR_TAIL_CHARS = 2000
# Messages of llama.cpp that say why a run failed, most specific first.
KNOWN_FAILURES = (
    ("failed to find a memory slot", "KV cache too small for the batch: failed to find a memory slot"),
    ("failed to decode", "llama_decode failed"),
    ("failed to allocate", "out of memory: llama.cpp failed to allocate a buffer"),
    ("insufficient memory", "out of memory: llama.cpp failed to allocate a buffer"),
    ("std::bad_alloc", "out of memory: std::bad_alloc"),
    ("unable to load model", "unable to load model"),
    ("failed to create the llama_context", "failed to create the llama_context"),
    ("error: invalid argument", "invalid argument"),
)


def now_iso() -> str:
    """UTC now as datetime.now(UTC).isoformat(timespec="microseconds") writes it (without
    importing datetime into every job)."""
    now = time.time()
    seconds = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((now - seconds) * 1e6):06d}+00:00"


def classify_failure(returncode: int, stderr: str) -> tuple[str, str]:
    """(status, reason) of a process that gave no result."""
    reason = next((why for needle, why in KNOWN_FAILURES if needle in stderr), None)
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        return FAILED, f"killed by signal {name}" + (f" ({reason})" if reason else "")
    if returncode != 0:
        return FAILED, f"exit code {returncode}" + (f": {reason}" if reason else "")
    return FAILED, reason or "exited 0 but printed no result line"


class Runner:
    """Runs the binary in its own process group, killed with the group on a timeout or when
    the runner is interrupted, so no orphan keeps timing."""

    def __init__(self):
        self.child: subprocess.Popen | None = None

    def run(self, argv: list[str], log, timeout: float | None,
            address_space_mb: int | None = None) -> tuple[int | None, str, str]:
        """(returncode or None on timeout, stdout, stderr)."""

        def limit_memory():  # in the child: its allocations beyond the limit fail, as out of memory
            limit = address_space_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        self.child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, errors="replace", start_new_session=True,
                                      preexec_fn=limit_memory if address_space_mb else None)
        try:
            out, err = self.child.communicate(timeout=timeout)
            code = self.child.returncode
        except (subprocess.TimeoutExpired, Interrupted) as stop:
            os.killpg(self.child.pid, signal.SIGKILL)
            out, err = self.child.communicate()
            if isinstance(stop, Interrupted):
                log.write(err + f"\n--- interrupted by {stop}; stdout ---\n" + out + "\n")
                log.flush()
                raise
            code = None
        log.write(err)
        log.write("\n--- stdout ---\n" + out + "\n")
        log.flush()
        return code, out, err


def threads_given(spec: dict, metrics: dict | None) -> int:
    """The CPU threads the benchmark ran with: as llama.cpp reported them, else as asked, else
    llama.cpp's default of every CPU the job may use."""
    metrics, options = metrics or {}, spec.get("options") or {}
    for source, keys in ((metrics, ("n_threads", "n_threads_batch")), (options, ("threads", "threads_batch"))):
        values = [int(source[k]) for k in keys if isinstance(source.get(k), int) and source[k] > 0]
        if values:
            return max(values)
    return surroundings.available_cpus()


def stop_record(stop: Interrupted, at_time_limit: bool, attempt: int) -> tuple[str, str]:
    """(status, reason) of a run ended by a signal from outside."""
    if at_time_limit:
        return TIMEOUT, f"killed by {stop} at the scheduler's time limit (attempt {attempt})"
    return FAILED, f"interrupted by {stop} during attempt {attempt} (the job was cancelled or preempted)"


def new_attempt(number: int) -> dict:
    return {"attempt": number, "start_time": now_iso(), "end_time": None, "wall_time_s": None,
            "returncode": None, "stderr": "", "metrics": None, "counters": None,
            "disturbed": None, "disturbed_reason": None, "wait": None, "_started": time.monotonic()}


def end_attempt(attempt: dict, **fields) -> dict:
    started = attempt.pop("_started", None)  # None: ended already, then interrupted
    attempt.update(fields, end_time=now_iso())
    if started is not None:
        attempt["wall_time_s"] = time.monotonic() - started
    return attempt


def measure_once(runner: Runner, argv: list[str], spec: dict, policy: dict, log, attempt: dict,
                 deadline: Deadline) -> dict:
    """One run of the benchmark process with what surrounded it, within the time the per-job
    timeout and the scheduler's time limit leave: an attempt of the record."""
    log.write(f"=== attempt {attempt['attempt']}: {shlex.join(argv)}\n")
    log.flush()
    timeout, by_scheduler = deadline.budget(policy["timeout_s"])
    before = surroundings.Snapshot.take()
    code, stdout, stderr = runner.run(argv, log, timeout, policy["address_space_limit_mb"])
    after = surroundings.Snapshot.take()
    end_attempt(attempt, returncode=code, stderr=stderr)
    if code is None:
        attempt.update(status=TIMEOUT, reason=deadline.reason() if by_scheduler else
                       f"no result within the {policy['timeout_s']} s timeout")
    else:
        rows = [r for r in result_rows(stdout, stderr)
                if (r["pp"], r["tg"], r["b"]) == (spec["pp"], spec["tg"], spec["b"])]
        if code == 0 and rows:
            attempt.update(status=OK, reason="", metrics=rows[-1])
        else:
            attempt.update(zip(("status", "reason"), classify_failure(code, stderr), strict=True))
    timed = attempt["metrics"].get("t") if attempt["metrics"] else None
    attempt["counters"] = surroundings.counters(before, after, threads_given(spec, attempt["metrics"]), timed)
    if attempt["status"] == OK:
        reasons = surroundings.verdict(attempt["counters"], policy)
        attempt["disturbed"], attempt["disturbed_reason"] = bool(reasons), "; ".join(reasons)
    return attempt


def no_time_to_remeasure(deadline: Deadline, policy: dict, last: dict) -> str | None:
    """Why a disturbed result is not measured again: the scheduler's time limit leaves less
    than its attempt took (a re-measure cut short would only end as a timeout)."""
    left, by_scheduler = deadline.budget(policy["timeout_s"])
    if by_scheduler and left < last["wall_time_s"]:
        return f"{left:.0f} s left before the scheduler's time limit, an attempt took {last['wall_time_s']:.0f} s"
    return None


def wait_before_remeasure(deadline: Deadline, policy: dict, last: dict, log) -> dict | None:
    """Wait (at most `remeasure_wait_s`, and never into the time the scheduler's limit leaves for
    the attempt) for the disturbance to pass; what the wait saw, for the next attempt's record."""
    most = policy["remeasure_wait_s"]
    left, by_scheduler = deadline.budget(policy["timeout_s"])
    if by_scheduler:
        most = min(most, left - last["wall_time_s"])
    wait = surroundings.wait_for_quiet(last["counters"]["threads"], policy, most)
    if wait and wait["quiet"] is not None:
        state = "quiet" if wait["quiet"] else "still busy, measuring anyway"
        free = "unknown" if wait["free_cpus"] is None else f"{wait['free_cpus']:.1f}"
        pressure = "unknown" if wait["cpu_pressure"] is None else f"{wait['cpu_pressure']:.0%}"
        log.write(f"=== waited {wait['waited_s']:.1f} s: {state} ({free} CPUs free, "
                  f"{wait['needed_cpus']:.1f} needed; CPU pressure {pressure})\n")
        log.flush()
    return wait


def measure(runner: Runner, argv: list[str], spec: dict, policy: dict, log,
            deadline: Deadline) -> tuple[dict, list[dict]]:
    """Every attempt, and the one the row reports: a result, measured again while the machine
    disturbed it (at most `remeasure` times, each after a bounded wait for the disturbance to
    pass, while the scheduler's time limit leaves room); a lost result run again (at most
    `retries`). A SIGTERM ends the attempt in progress as an attempt of its own; a SIGINT
    (Ctrl-C) propagates."""
    attempts: list[dict] = []
    retries, remeasures = policy["retries"], policy["remeasure"]
    attempt: dict | None = None
    wait = None
    try:
        while True:
            attempt = new_attempt(len(attempts) + 1)
            attempt["wait"], wait = wait, None
            attempts.append(measure_once(runner, argv, spec, policy, log, attempt, deadline))
            if attempt["status"] == OK:
                if not attempt["disturbed"] or remeasures == 0:
                    break
                if short := no_time_to_remeasure(deadline, policy, attempt):
                    attempt["disturbed_reason"] += f"; not measured again: {short}"
                    log.write(f"=== disturbed, not measured again: {short}\n")
                    break
                remeasures -= 1
                log.write(f"=== disturbed, measuring again: {attempt['disturbed_reason']}\n")
                log.flush()
                wait = wait_before_remeasure(deadline, policy, attempt, log)
            elif attempt["status"] == TIMEOUT or attempt["returncode"] != 0 or retries == 0:
                break  # a crash is not the lost-log defect: retrying would only repeat it
            else:
                retries -= 1
    except Interrupted as stop:
        if stop.signum == signal.SIGINT:
            raise  # Ctrl-C: stop without a record, so the next run measures it again
        if attempt is None or (attempts and attempts[-1] is attempt):  # between attempts
            attempt = new_attempt(len(attempts) + 1)
        status, reason = stop_record(stop, deadline.near(), attempt["attempt"])
        attempts.append(end_attempt(attempt, status=status, reason=reason))
        if attempts[-2:-1] and attempts[-2]["disturbed"]:  # a re-measure cut short: say why it is the last
            attempts[-2]["disturbed_reason"] += f"; measuring again stopped: {reason}"
    results = [a for a in attempts if a["status"] == OK]
    # the last undisturbed result; else the last result (flagged); else how it ended
    chosen = next((a for a in reversed(results) if not a["disturbed"]), results[-1] if results else attempts[-1])
    return chosen, attempts


def run_job(spec: dict, build: dict, model: dict, log, policy: dict | None = None) -> dict:
    policy = run_policy(policy) if policy is not None else policy_from_environment()
    argv = bench_argv(build["batched_bench"], model["path"], spec["pp"], spec["tg"], spec["b"],
                      spec["ctx"], spec["options"], spec["extra_args"],
                      jsonl=build.get("supports_jsonl", True))
    record = measured(spec, argv, host.facts(), model, build, policy)
    start_wall, start = time.monotonic(), now_iso()
    chosen, attempts = measure(Runner(), argv, spec, policy, log, slurm_deadline())
    code, reason = chosen["returncode"], chosen["reason"]
    lost = [a for a in attempts if a["status"] == FAILED and a["returncode"] == 0]
    if chosen["status"] == FAILED and code == 0:
        reason += f" (after {len(lost)} attempts)"
    record.update({
        "status": chosen["status"],
        "reason": reason,
        "exit_code": code if code is None or code >= 0 else None,
        "signal": -code if code is not None and code < 0 else None,
        "stderr_tail": None if chosen["status"] == OK else chosen["stderr"][-STDERR_TAIL_CHARS:],
        "attempts": len(attempts),
        "start_time": start,
        "end_time": now_iso(),
        "wall_time_s": time.monotonic() - start_wall,
        "metrics": chosen["metrics"],
        # what surrounded the reported measurement, and whether it was disturbed
        "counters": chosen["counters"],
        "disturbed": chosen["disturbed"],
        "disturbed_reason": chosen["disturbed_reason"],
        "remeasured": sum(1 for a in attempts[:-1] if a["status"] == OK and a["disturbed"]),
        # every attempt, nothing discarded (stderr only as its end)
        "measurements": [{**{k: v for k, v in a.items() if k != "stderr"},
                          "stderr_tail": a["stderr"][-STDERR_TAIL_CHARS:] if a["status"] != OK else None}
                         for a in attempts],
    })
    return record


# The runner's options (name -> help); a few lines instead of argparse, an import every job pays.
OPTIONS = {
    "--spec": "the job as JSON",
    "--policy": "the run policy as JSON (default: from the environment, see batchbench.policy)",
    "--setup": "the build and model to run (JSON file)",
    "--output": "the record to write",
    "--log": "the job's log",
}
REQUIRED = ("--spec", "--setup", "--output", "--log")


def usage() -> str:
    return ("usage: python -m batchbench.bench_job " + " ".join(
        f"{name} {name[2:].upper()}" if name in REQUIRED else f"[{name} {name[2:].upper()}]" for name in OPTIONS)
        + "\n\n" + __doc__.splitlines()[0] + "\n\n" + "\n".join(f"  {n:<10} {h}" for n, h in OPTIONS.items()))


def usage_error(message: str):
    """Exit as argparse does on a mistake: the usage and the message on stderr, exit code 2."""
    print(f"{usage()}\n\nerror: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: list[str]) -> dict[str, str | None]:
    """{option: value} of `--name VALUE` and `--name=VALUE` arguments."""
    args: dict[str, str | None] = dict.fromkeys(OPTIONS)
    rest = iter(argv)
    for arg in rest:
        if arg in ("-h", "--help"):
            print(usage())
            sys.exit(0)
        name, eq, value = arg.partition("=")
        if name not in OPTIONS:
            usage_error(f"unrecognized argument: {arg}")
        if not eq and (value := next(rest, None)) is None:
            usage_error(f"{name} expects a value")
        args[name] = value
    if missing := [name for name in REQUIRED if args[name] is None]:
        usage_error(f"the following arguments are required: {', '.join(missing)}")
    return args


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    spec = json.loads(options["--spec"])
    policy = options["--policy"]
    with open(options["--setup"]) as f:
        setup = json.load(f)
    # a SIGTERM (scancel, preemption, the time limit) ends the run, not the runner: the
    # record is written and the job ends normally, so runs.parquet has the row
    with interruptible(), open(options["--log"], "w") as log:
        try:
            record = run_job(spec, setup["build"], setup["model"], log, policy and json.loads(policy))
        except Interrupted as stop:  # SIGINT
            return 128 + stop.signum
        write_json_atomic(options["--output"], record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
