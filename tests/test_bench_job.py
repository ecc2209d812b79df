"""The job runner against a stand-in binary: every way a run can end gives a record."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from batchbench import surroundings
from batchbench.bench_job import main, measure
from batchbench.deadline import Deadline, Interrupted, parse_slurm_duration
from batchbench.policy import DEFAULTS, POLICY_ENV, job_environment, policy_from_environment, run_policy
from batchbench.resources import attempts

SPEC = {"experiment": "e", "model": "m", "build": "b", "pp": 64, "tg": 32, "b": 2, "rep": 1,
        "ctx": 192, "options": {"batch": 2048}, "extra_args": []}
# a stand-in is a one-thread Python process on a shared machine: no verdict on it here, and no
# wait for the machine to calm down before a re-measurement (tested with recorded readings)
POLICY = {"timeout_s": 5, "retries": 2, "min_cpu_share": 0, "max_cpu_pressure": 1, "max_memory_pressure": 1,
          "max_steal": 1, "remeasure_wait_s": 0}
RESULT = ('{"n_kv_max": 512, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, '
          '"n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 64, "tg": 32, "pl": 2, '
          '"n_kv": 192, "t_pp": 0.1, "speed_pp": 1280.0, "t_tg": 0.2, "speed_tg": 320.0, "t": 0.3, '
          '"speed": 640.0}')


def fake_binary(tmp_path, body: str) -> str:
    path = tmp_path / "llama-batched-bench"
    path.write_text(f"#!{sys.executable}\nimport os, sys, time, signal\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def run(tmp_path, body, jsonl=True, **policy):
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({
        "build": {"batched_bench": fake_binary(tmp_path, body), "supports_jsonl": jsonl},
        "model": {"path": str(tmp_path / "model with space.gguf"), "name": "m"}}))
    out, log = tmp_path / "out.json", tmp_path / "job.log"
    assert main(["--spec", json.dumps(SPEC), "--policy", json.dumps({**POLICY, **policy}), "--setup", str(setup),
                 "--output", str(out), "--log", str(log)]) == 0
    return json.loads(out.read_text()), log.read_text()


def test_ok(tmp_path):
    rec, log = run(tmp_path, f"print('noise'); print({RESULT!r})")
    assert rec["status"] == "ok" and rec["metrics"]["t_tg"] == 0.2 and rec["attempts"] == 1
    assert rec["command"][1:3] == ["-m", str(tmp_path / "model with space.gguf")]
    assert rec["command"][-2:] == ["--output-format", "jsonl"]
    assert rec["start_time"] < rec["end_time"] and rec["wall_time_s"] > 0
    assert rec["host_name"] and rec["job_scheduler"] == "local"


def loses_first_result(counter) -> str:
    """A stand-in that prints no result on its first run (the lost-log defect), then does."""
    return f"""
        p = {str(counter)!r}
        n = int(open(p).read()) if os.path.exists(p) else 0
        open(p, 'w').write(str(n + 1))
        if n >= 1: print({RESULT!r})
        """


def test_lost_result_is_retried_then_recorded(tmp_path):
    rec, _ = run(tmp_path, loses_first_result(tmp_path / "count"))
    assert rec["status"] == "ok" and rec["attempts"] == 2


def test_the_run_policy_is_followed_and_recorded(tmp_path):
    rec, _ = run(tmp_path, "print('no result')", retries=0, address_space_limit_mb=4096)
    assert rec["status"] == "failed" and rec["attempts"] == 1
    assert rec["run_policy"] == {**DEFAULTS, **POLICY, "retries": 0, "address_space_limit_mb": 4096}


def test_the_workflow_gives_the_policy_through_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(POLICY_ENV, job_environment({"retries": 1, "timeout_s": 7, "remeasure": 0})[POLICY_ENV])
    assert policy_from_environment() == {**DEFAULTS, "timeout_s": 7, "retries": 1, "remeasure": 0}
    monkeypatch.delenv(POLICY_ENV)
    assert policy_from_environment() == DEFAULTS


def test_never_a_result(tmp_path):
    rec, _ = run(tmp_path, "print('llama_perf_context_print: load time = 1 ms')")
    assert rec["status"] == "failed" and rec["attempts"] == 3
    assert "printed no result" in rec["reason"] and rec["metrics"] is None


def test_memory_slot_failure(tmp_path):
    rec, _ = run(tmp_path, """
        sys.stderr.write('decode: failed to find a memory slot for batch of size 2\\n')
        sys.exit(1)""")
    assert rec["status"] == "failed" and rec["exit_code"] == 1 and rec["attempts"] == 1
    assert "memory slot" in rec["reason"] and "memory slot" in rec["stderr_tail"]


def test_crash_by_signal(tmp_path):
    rec, _ = run(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)")
    assert rec["status"] == "failed" and rec["signal"] == 11 and "SIGSEGV" in rec["reason"]


def test_timeout(tmp_path):
    rec, _ = run(tmp_path, "time.sleep(30)", timeout_s=0.5)
    assert rec["status"] == "timeout" and "0.5 s" in rec["reason"]
    assert rec["wall_time_s"] < 10


def test_result_of_another_combination_is_not_taken(tmp_path):
    other = RESULT.replace('"pl": 2', '"pl": 4')
    rec, _ = run(tmp_path, f"print({other!r})")
    assert rec["status"] == "failed"


def test_markdown_when_the_binary_has_no_jsonl(tmp_path):
    body = """
        assert '--output-format' not in sys.argv
        print('|    64 |     32 |    2 |    192 |    0.100 |  1280.00 |    0.200 |   320.00 |    0.300 |   640.00 |')
        """
    rec, _ = run(tmp_path, body, jsonl=False)
    assert rec["status"] == "ok" and rec["metrics"]["s_tg"] == 320.0


def test_counters_of_the_benchmark_process(tmp_path):
    rec, _ = run(tmp_path, f"""
        end = time.process_time() + 0.3
        while time.process_time() < end: pass
        print({RESULT!r})""")
    c = rec["counters"]
    assert c["cpu_time_s"] >= 0.3 and c["threads"] == 2  # as llama.cpp reported it
    # one busy thread where two were expected during T (0.3 s), one outside it: about 0.55 at most
    assert 0 < c["cpu_share"] <= 0.7
    assert c["involuntary_switches"] >= 0 and c["major_faults"] >= 0
    if os.path.exists("/proc/pressure/cpu"):
        assert 0 <= c["cpu_pressure_some"] <= 1
    assert rec["disturbed"] is False and rec["remeasured"] == 0 and len(rec["measurements"]) == 1
    assert rec["sentinel"] is None  # a grid job, not the drift sentinel


def disturb_first(monkeypatch, n: int) -> None:
    """The verdict says `disturbed` for the first `n` measurements (the machine's real load must
    not decide a unit test; the verdict itself is tested on recorded counters)."""
    calls = []

    def verdict(counters, limits):
        calls.append(counters)
        return [f"the machine's CPU was contended for 38% of the job (call {len(calls)})"] if len(calls) <= n else []

    monkeypatch.setattr(surroundings, "verdict", verdict)


def test_disturbed_job_is_measured_again(tmp_path, monkeypatch):
    disturb_first(monkeypatch, 2)
    rec, log = run(tmp_path, f"print({RESULT!r})")
    assert rec["status"] == "ok" and rec["disturbed"] is False and rec["remeasured"] == 2
    assert rec["attempts"] == 3 and [m["disturbed"] for m in rec["measurements"]] == [True, True, False]
    first = rec["measurements"][0]
    assert first["metrics"]["t_tg"] == 0.2 and "contended for 38%" in first["disturbed_reason"]
    assert first["counters"]["cpu_time_s"] > 0 and first["start_time"] < first["end_time"]
    assert rec["counters"] == rec["measurements"][-1]["counters"] and rec["disturbed_reason"] == ""
    assert log.count("disturbed, measuring again") == 2


def test_a_remeasurement_waits_for_the_disturbance_to_pass(tmp_path, monkeypatch):
    disturb_first(monkeypatch, 1)
    waits = []

    def wait_for_quiet(threads, limits, most_s):
        waits.append((threads, most_s))
        return {"waited_s": 2.5, "quiet": True, "free_cpus": 1.9, "cpu_pressure": 0.01, "needed_cpus": 1.5}

    monkeypatch.setattr(surroundings, "wait_for_quiet", wait_for_quiet)
    rec, log = run(tmp_path, f"print({RESULT!r})", remeasure_wait_s=7)
    assert waits == [(2, 7)]  # the threads the benchmark ran with, the policy's bound
    first, second = rec["measurements"]
    assert first["wait"] is None and second["wait"]["waited_s"] == 2.5 and second["wait"]["quiet"] is True
    assert rec["disturbed"] is False and second["start_time"] > first["end_time"]
    assert "=== waited 2.5 s: quiet (1.9 CPUs free, 1.5 needed; CPU pressure 1%)" in log


def test_the_wait_leaves_the_attempt_its_time_before_the_schedulers_limit(monkeypatch):
    disturb_first(monkeypatch, 1)
    bounds = []
    monkeypatch.setattr(surroundings, "wait_for_quiet", lambda threads, limits, most_s: bounds.append(most_s))
    measured(StandIn(seconds=0.2), Deadline(end=time.monotonic() + 5, limit_s=60, margin_s=0), timeout_s=None,
             remeasure_wait_s=30)
    assert len(bounds) == 1 and 4 < bounds[0] < 4.8  # 5 s left, less the 0.2 s attempt: not 30


def test_every_attempt_disturbed_stays_ok_and_flagged(tmp_path, monkeypatch):
    disturb_first(monkeypatch, 9)
    rec, _ = run(tmp_path, f"print({RESULT!r})", remeasure=1)
    assert rec["status"] == "ok" and rec["disturbed"] is True and rec["attempts"] == 2
    assert rec["remeasured"] == 1 and rec["disturbed_reason"].endswith("(call 2)")  # the last attempt
    assert rec["metrics"]["t_tg"] == 0.2


def test_no_remeasure(tmp_path, monkeypatch):
    disturb_first(monkeypatch, 9)
    rec, _ = run(tmp_path, f"print({RESULT!r})", remeasure=0)
    assert rec["disturbed"] is True and rec["attempts"] == 1 and rec["remeasured"] == 0


def test_a_lost_result_and_a_disturbed_one_are_counted_apart(tmp_path, monkeypatch):
    disturb_first(monkeypatch, 1)
    rec, _ = run(tmp_path, loses_first_result(tmp_path / "count"))
    assert rec["status"] == "ok" and rec["attempts"] == 3 and rec["remeasured"] == 1
    assert [m["status"] for m in rec["measurements"]] == ["failed", "ok", "ok"]
    assert "printed no result" in rec["measurements"][0]["reason"] and rec["measurements"][0]["disturbed"] is None


def test_the_most_attempts_a_job_makes(tmp_path, monkeypatch):
    """Two lost results, then disturbed at every measurement: the most attempts the policy allows,
    as many as the scheduler's time limit is sized for (resources.attempts)."""
    disturb_first(monkeypatch, 99)
    body = loses_first_result(tmp_path / "count").replace("n >= 1", "n >= 2")
    rec, _ = run(tmp_path, body, retries=2, remeasure=2)
    assert [m["status"] for m in rec["measurements"]] == ["failed", "failed", "ok", "ok", "ok"]
    assert rec["attempts"] == attempts(2, 2) and rec["disturbed"] is True


def test_the_end_to_end_tests_of_other_features_run_with_the_verdict_off(default_config):
    """tests/workflow.py's config turns the verdict off through the run policy (a key the policy
    does not know would be dropped silently)."""
    from workflow import VERDICT_OFF, base_config

    policy = json.loads(job_environment(base_config(default_config)["run"])[POLICY_ENV])
    assert set(VERDICT_OFF) <= set(DEFAULTS) and policy == {**DEFAULTS, **VERDICT_OFF}


def fake_squeue(tmp_path, seconds_left: int, limit: str) -> dict:
    """A squeue on PATH that says this job ends in `seconds_left` s, as SLURM prints it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "squeue"
    script.write_text(f"#!{sys.executable}\nimport datetime, sys\n"
                      "assert sys.argv[1:4] == ['-h', '-j', '42'], sys.argv\n"
                      f"end = datetime.datetime.now() + datetime.timedelta(seconds={seconds_left})\n"
                      f"print(end.strftime('%Y-%m-%dT%H:%M:%S') + '|{limit}')\n")
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "42"}


def test_stops_before_the_schedulers_time_limit(tmp_path, monkeypatch):
    for key, value in fake_squeue(tmp_path, 34, "1:00").items():
        monkeypatch.setenv(key, value)
    rec, log = run(tmp_path, "time.sleep(60)", timeout_s=None)
    assert rec["status"] == "timeout", rec["reason"]
    assert rec["reason"] == "stopped 30 s before the scheduler's 1-minute limit"
    assert 1 < rec["wall_time_s"] < 10 and rec["job_id"] == "42"


def test_the_per_job_timeout_still_applies_when_the_scheduler_allows_more(tmp_path, monkeypatch):
    for key, value in fake_squeue(tmp_path, 3600, "1:00:00").items():
        monkeypatch.setenv(key, value)
    rec, _ = run(tmp_path, "time.sleep(30)", timeout_s=0.5)
    assert rec["status"] == "timeout" and "0.5 s timeout" in rec["reason"]


def signalled_runner(tmp_path, signum: int) -> tuple[int, Path, int]:
    """The runner as its own process, sent `signum` while the benchmark runs: (its exit code,
    its output path, the benchmark's pid)."""
    started = tmp_path / "started"
    setup = tmp_path / "setup.json"
    body = f"open({str(started) + '.tmp'!r}, 'w').write(str(os.getpid())); " \
           f"os.rename({str(started) + '.tmp'!r}, {str(started)!r}); time.sleep(60)"
    setup.write_text(json.dumps({"build": {"batched_bench": fake_binary(tmp_path, body)},
                                 "model": {"path": "m.gguf", "name": "m"}}))
    out = tmp_path / "out.json"
    runner = subprocess.Popen([sys.executable, "-m", "batchbench.bench_job", "--spec",
                               json.dumps(SPEC), "--policy", json.dumps({**POLICY, "timeout_s": None}),
                               "--setup", str(setup),
                               "--output", str(out), "--log", str(tmp_path / "job.log")])
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.send_signal(signum)
    return runner.wait(timeout=30), out, int(started.read_text())


def test_sigterm_still_writes_the_record(tmp_path):
    code, out, _ = signalled_runner(tmp_path, signal.SIGTERM)  # what scancel and a preemption send
    assert code == 0
    rec = json.loads(out.read_text())
    assert rec["status"] == "failed" and rec["metrics"] is None
    assert rec["reason"] == "interrupted by SIGTERM during attempt 1 (the job was cancelled or preempted)"
    assert "interrupted by SIGTERM" in (tmp_path / "job.log").read_text()


def test_sigint_stops_without_a_record(tmp_path):
    """Ctrl-C: the run stops, the benchmark dies with it, and the next run measures it again."""
    code, out, benchmark = signalled_runner(tmp_path, signal.SIGINT)
    assert code == 128 + signal.SIGINT and not out.exists()
    time.sleep(0.5)
    assert not os.path.exists(f"/proc/{benchmark}")  # the benchmark is gone too


def test_slurm_durations():
    assert [parse_slurm_duration(t) for t in ("1", "1:00", "1:00:00", "2-00:00:00", "2-3", "0:30")] == \
        [60, 60, 3600, 172800, 183600, 30]
    assert parse_slurm_duration("UNLIMITED") is None


class StandIn:
    """A runner whose benchmark takes `seconds` and gives the result; `interrupt_at`: the
    attempt during which a signal arrives."""

    def __init__(self, seconds=0.0, interrupt_at=None, signum=signal.SIGTERM):
        self.seconds, self.interrupt_at, self.signum, self.calls = seconds, interrupt_at, signum, 0

    def run(self, argv, log, timeout, address_space_mb=None):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise Interrupted(self.signum)
        time.sleep(self.seconds)
        return 0, RESULT, ""


def measured(runner, deadline, **policy):
    return measure(runner, ["llama-batched-bench"], SPEC, run_policy({**POLICY, **policy}), io.StringIO(), deadline)


def test_no_remeasure_the_schedulers_time_limit_would_cut_short(monkeypatch):
    disturb_first(monkeypatch, 9)
    runner = StandIn(seconds=0.5)
    chosen, attempts = measured(runner, Deadline(end=time.monotonic() + 0.8, limit_s=60, margin_s=0), timeout_s=None)
    assert runner.calls == 1 and len(attempts) == 1 and chosen["status"] == "ok" and chosen["disturbed"]
    assert "not measured again" in chosen["disturbed_reason"] and "before the scheduler's time limit" in \
        chosen["disturbed_reason"] and chosen["wall_time_s"] >= 0.5


def test_remeasure_while_the_schedulers_time_limit_leaves_room(monkeypatch):
    disturb_first(monkeypatch, 1)
    deadline = Deadline(end=time.monotonic() + 600, limit_s=900, margin_s=0)
    chosen, attempts = measured(StandIn(), deadline, timeout_s=None)
    assert [a["disturbed"] for a in attempts] == [True, False] and chosen is attempts[-1]


def test_sigterm_during_a_remeasure_keeps_the_attempts_made(monkeypatch):
    disturb_first(monkeypatch, 9)
    chosen, attempts = measured(StandIn(interrupt_at=2), Deadline())
    assert [a["status"] for a in attempts] == ["ok", "failed"]
    assert attempts[1]["reason"] == "interrupted by SIGTERM during attempt 2 (the job was cancelled or preempted)"
    # the row reports the result it has, flagged, and says why it was not measured again
    assert chosen is attempts[0] and chosen["disturbed"] and "measuring again stopped" in chosen["disturbed_reason"]
    assert all("_started" not in a and a["end_time"] for a in attempts)


def test_sigint_during_a_remeasure_propagates(monkeypatch):
    disturb_first(monkeypatch, 9)
    with pytest.raises(Interrupted):
        measured(StandIn(interrupt_at=2, signum=signal.SIGINT), Deadline())
