"""Run one benchmark combination and write its record, whatever happens.

Called by the `bench_run` rule as `python -m batchbench.bench_job ...`. It imports only the
standard library (plus this package's light modules), because every job pays for its imports.
A benchmark that crashes, times out or prints no result still gives a record with a `status`
and a `reason`; the record is written atomically, so a half-written file is never a result.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from . import host
from .command import bench_argv
from .deadline import Interrupted, interruptible, slurm_deadline
from .files import write_json_atomic
from .parse import result_rows
from .policy import policy_from_environment, run_policy

SCHEMA_VERSION = 1
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
    return datetime.now(UTC).isoformat(timespec="microseconds")


def classify_failure(returncode: int, stderr: str) -> tuple[str, str]:
    """(status, reason) of a process that gave no result."""
    reason = next((why for needle, why in KNOWN_FAILURES if needle in stderr), None)
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        return "failed", f"killed by signal {name}" + (f" ({reason})" if reason else "")
    if returncode != 0:
        return "failed", f"exit code {returncode}" + (f": {reason}" if reason else "")
    return "failed", reason or "exited 0 but printed no result line"


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


def stop_record(stop: Interrupted, at_time_limit: bool, attempt: int) -> tuple[str, str]:
    """(status, reason) of a run ended by a signal from outside."""
    if at_time_limit:
        return "timeout", f"killed by {stop} at the scheduler's time limit (attempt {attempt})"
    return "failed", f"interrupted by {stop} during attempt {attempt} (the job was cancelled or preempted)"


def run_job(spec: dict, build: dict, model: dict, log, policy: dict | None = None) -> dict:
    policy = run_policy(policy) if policy is not None else policy_from_environment()
    argv = bench_argv(build["batched_bench"], model["path"], spec["pp"], spec["tg"], spec["b"],
                      spec["ctx"], spec["options"], spec["extra_args"],
                      jsonl=build.get("supports_jsonl", True))
    record = {
        "schema_version": SCHEMA_VERSION,
        **{k: spec[k] for k in ("experiment", "model", "build", "pp", "tg", "b", "rep", "ctx")},
        "machine": spec.get("machine"),  # the config's name of the machine (None without `machines`)
        "options": spec["options"],
        "extra_args": spec["extra_args"],
        "command": argv,
        **host.facts(),
        "model_info": model,
        "build_info": build,
        "run_policy": policy,
    }
    runner = Runner()
    deadline = slurm_deadline()
    start_wall, start = time.monotonic(), now_iso()
    status, reason, metrics, code, stderr = "failed", "not run", None, None, ""
    attempts = 0
    try:
        for attempts in range(1, policy["retries"] + 2):
            timeout, by_scheduler = deadline.budget(policy["timeout_s"])
            log.write(f"=== attempt {attempts}: {shlex.join(argv)}\n")
            log.flush()
            code, stdout, stderr = runner.run(argv, log, timeout, policy["address_space_limit_mb"])
            if code is None:
                status, reason = "timeout", (deadline.reason() if by_scheduler else
                                             f"no result within the {policy['timeout_s']} s timeout")
                break
            rows = [r for r in result_rows(stdout, stderr)
                    if (r["pp"], r["tg"], r["b"]) == (spec["pp"], spec["tg"], spec["b"])]
            if code == 0 and rows:
                status, reason, metrics = "ok", "", rows[-1]
                break
            status, reason = classify_failure(code, stderr)
            if code != 0:
                break  # a crash is not the lost-log defect: retrying would only repeat it
    except Interrupted as stop:
        if stop.signum == signal.SIGINT:
            raise  # Ctrl-C: stop without a record, so the next run measures it again
        code, metrics = None, None
        status, reason = stop_record(stop, deadline.near(), attempts)
    if status == "failed" and code == 0:
        reason += f" (after {attempts} attempts)"
    record.update({
        "status": status,
        "reason": reason,
        "exit_code": code if code is None or code >= 0 else None,
        "signal": -code if code is not None and code < 0 else None,
        "stderr_tail": None if status == "ok" else stderr[-STDERR_TAIL_CHARS:],
        "attempts": attempts,
        "start_time": start,
        "end_time": now_iso(),
        "wall_time_s": time.monotonic() - start_wall,
        "metrics": metrics,
    })
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the job as JSON")
    parser.add_argument("--policy", help="the run policy as JSON (default: from the environment, "
                        "see batchbench.policy)")
    parser.add_argument("--setup", required=True, help="the build and model to run (JSON file)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    spec = json.loads(args.spec)
    with open(args.setup) as f:
        setup = json.load(f)
    # a SIGTERM (scancel, preemption, the time limit) ends the run, not the runner: the
    # record is written and the job ends normally, so runs.parquet has the row
    with interruptible(), open(args.log, "w") as log:
        try:
            record = run_job(spec, setup["build"], setup["model"], log, args.policy and json.loads(args.policy))
        except Interrupted as stop:  # SIGINT
            return 128 + stop.signum
        write_json_atomic(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
