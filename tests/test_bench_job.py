"""The job runner against a stand-in binary: every way a run can end gives a record."""

import json
import os
import sys
import textwrap

from batchbench import surroundings
from batchbench.bench_job import main
from batchbench.policy import DEFAULTS, POLICY_ENV, job_environment, policy_from_environment

SPEC = {"experiment": "e", "model": "m", "build": "b", "pp": 64, "tg": 32, "b": 2, "rep": 1,
        "ctx": 192, "options": {"batch": 2048}, "extra_args": []}
# a stand-in is a one-thread Python process on a shared machine: no verdict on it here
POLICY = {"timeout_s": 5, "retries": 2, "min_cpu_share": 0, "max_cpu_pressure": 1, "max_memory_pressure": 1,
          "max_steal": 1}
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


def test_the_end_to_end_tests_of_other_features_run_with_the_verdict_off(default_config):
    """tests/workflow.py's config turns the verdict off through the run policy (a key the policy
    does not know would be dropped silently)."""
    from workflow import VERDICT_OFF, base_config

    policy = json.loads(job_environment(base_config(default_config)["run"])[POLICY_ENV])
    assert set(VERDICT_OFF) <= set(DEFAULTS) and policy == {**DEFAULTS, **VERDICT_OFF}
