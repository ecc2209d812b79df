"""Bad runs lose nothing, with the real binary: crashes, out of memory, timeouts and bad
arguments become rows; interrupted and killed runs recover; odd names stay inert."""

import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from workflow import TINY, runs, snakemake

pytestmark = pytest.mark.real


def config_for(default_config, experiment: str, run: dict | None = None, **grid) -> dict:
    return {**default_config, "experiment": experiment,
            "models": [{"name": "tiny", "synthetic": {**TINY, "quant": "F16"}}],
            "grid": {"npp": [32], "ntg": [8], "npl": [1], "threads": 2, **grid},
            "run": {**default_config["run"], **(run or {})}}


def start(workdir: Path, config: dict) -> subprocess.Popen:
    """Snakemake in the background, in its own process group (so the test can kill all of it)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                             "--cores", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def records(workdir: Path, experiment: str) -> list[Path]:
    return sorted((workdir / "results" / experiment / "runs").rglob("*.json"))


def interrupted_outputs(snakemake_output: str) -> list[str]:
    """The outputs of the jobs Snakemake reports as cut off ("Error in rule ...")."""
    cut, in_error = [], False
    for line in snakemake_output.splitlines():
        if line.startswith("Error in rule"):
            in_error = True
        elif in_error and line.strip().startswith("output:"):
            cut.append(line.split("output:", 1)[1].strip())
            in_error = False
    return cut


def llama_pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_out_of_memory_is_a_row_and_the_grid_goes_on(default_config, tmp_path):
    # 2,000,000 cells of KV cache (about 1 GB) cannot fit in a 500 MB address space
    config = config_for(default_config, "oom", {"address_space_limit_mb": 500}, ctx=["auto", 2000000])
    snakemake(tmp_path, config)
    df = runs(tmp_path, "oom").set_index("ctx")
    assert df.loc[40, "status"] == "ok"
    assert df.loc[2000000, "status"] == "failed" and "out of memory" in df.loc[2000000, "reason"]
    assert df.loc[2000000, "exit_code"] == 1 and "failed to allocate" in df.loc[2000000, "stderr_tail"]
    # the analysis goes on with the row that measured, and the report counts and lists the other
    report = (tmp_path / "results" / "oom" / "report.md").read_text()
    assert "1 ok, 0 skipped, 1 failed, 0 timed out" in report and "out of memory" in report


def test_a_bad_argument_is_a_row_with_exit_code_and_stderr(default_config, tmp_path):
    snakemake(tmp_path, config_for(default_config, "badarg", extra_args=["--no-such-flag"]))
    row = runs(tmp_path, "badarg").iloc[0]
    assert row["status"] == "failed" and row["exit_code"] == 1 and row["attempts"] == 1
    assert "invalid argument" in row["reason"] and "--no-such-flag" in row["stderr_tail"]


def test_timeout_is_a_row_and_the_grid_goes_on(default_config, tmp_path):
    # on one thread, PP=4096 with B=16 takes half a minute on this model; PP=32 milliseconds
    config = config_for(default_config, "timeout", {"timeout_s": 3}, npp=[32, 4096], npl=[16], threads=1)
    start_time = time.monotonic()
    snakemake(tmp_path, config)
    df = runs(tmp_path, "timeout").set_index("pp")
    assert df.loc[32, "status"] == "ok"
    assert df.loc[4096, "status"] == "timeout" and "3 s" in df.loc[4096, "reason"]
    assert df.loc[4096, "wall_time_s"] < 10 and time.monotonic() - start_time < 120
    assert not llama_pids("llama-batched-bench.*-npp 4096")  # nothing left running


def test_a_benchmark_killed_by_a_signal_is_a_row(default_config, tmp_path):
    config = config_for(default_config, "killed", npp=[2048, 32], npl=[16])
    proc = start(tmp_path, config)
    wait_for(lambda: llama_pids("llama-batched-bench.*-npp 2048"))
    for pid in llama_pids("llama-batched-bench.*-npp 2048"):
        os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=300) == 0, proc.stdout.read()
    df = runs(tmp_path, "killed").set_index("pp")
    assert df.loc[2048, "status"] == "failed" and df.loc[2048, "signal"] == 9
    assert "SIGKILL" in df.loc[2048, "reason"] and df.loc[32, "status"] == "ok"


def test_sigint_mid_grid_then_rerun_keeps_every_result(default_config, tmp_path):
    config = config_for(default_config, "sigint", npp=[32, 64, 128, 256], npl=[1, 2, 4, 8])
    proc = start(tmp_path, config)
    wait_for(lambda: len(records(tmp_path, "sigint")) >= 3)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    # a job cut off by the interrupt is measured again, even if its record had just appeared
    kept = {p: p.stat().st_mtime_ns for p in records(tmp_path, "sigint")}
    cut_off = interrupted_outputs(output)
    for cut in cut_off:
        kept.pop(tmp_path / cut, None)
    # at least three records were written; with --cores 2 at most two jobs were in flight when cut
    assert len(set(cut_off)) <= 2 and 1 <= len(kept) < 16, output
    snakemake(tmp_path, config)
    df = runs(tmp_path, "sigint")
    assert len(df) == 16 and (df["status"] == "ok").all()
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())  # none measured again


def test_sigkill_then_unlock_and_rerun_finishes_the_grid(default_config, tmp_path):
    config = config_for(default_config, "sigkill", npp=[32, 2048], npl=[1, 16])
    proc = start(tmp_path, config)
    wait_for(lambda: llama_pids("llama-batched-bench.*-npp 2048"))  # a measurement in flight
    before = {p: p.stat().st_mtime_ns for p in records(tmp_path, "sigkill")}
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake, the job runner and llama.cpp at once
    proc.wait()
    locked = snakemake(tmp_path, config, check=False)
    assert locked.returncode != 0 and "LockException" in locked.stdout + locked.stderr
    snakemake(tmp_path, config, "--unlock")  # the README's recovery: unlock, then the same command
    snakemake(tmp_path, config)
    df = runs(tmp_path, "sigkill")
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items())


def test_two_runs_at_once_do_not_corrupt_each_other(default_config, tmp_path):
    config = config_for(default_config, "twice", npp=[32, 64, 128], npl=[1, 2, 4])
    first = start(tmp_path, config)
    locks = tmp_path / ".snakemake" / "locks"
    wait_for(lambda: locks.is_dir() and any(locks.iterdir()))
    second = snakemake(tmp_path, config, check=False)
    assert second.returncode != 0 and "LockException" in second.stdout + second.stderr
    assert first.wait(timeout=300) == 0
    df = runs(tmp_path, "twice")
    assert len(df) == 9 and (df["status"] == "ok").all()


def test_odd_names_and_paths_work_and_execute_nothing(default_config, tmp_path):
    cache = Path(os.environ.get("BATCHBENCH_CACHE") or Path.home() / ".cache" / "batchbench")
    snakemake(tmp_path / "prep", config_for(default_config, "prep"))
    model = json.loads(next((tmp_path / "prep/results/prep/models").glob("*.json")).read_text())["path"]
    odd_dir = tmp_path / "models; $(touch PWNED1) `touch PWNED2`"
    odd_dir.mkdir()
    odd_model = odd_dir / "it's a \"model\" $HOME.gguf"
    shutil.copy(model, odd_model)
    name = "tiny; $(touch PWNED3) `touch PWNED4` 'q' \"d\" $USER"
    config = {**config_for(default_config, "odd"), "models": [{"name": name, "path": str(odd_model)}]}
    work = tmp_path / "work dir; $(touch PWNED5)"
    work.mkdir()
    snakemake(work, config)
    row = runs(work, "odd").iloc[0]
    assert row["status"] == "ok" and row["model"] == name
    assert row["model_path"] == str(odd_model.resolve())
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    assert not list(cache.parent.glob("PWNED*"))
    # the name reaches the report intact and inert: escaped in HTML, literal in Markdown
    report = work / "results" / "odd"
    assert html.escape(name) in (report / "report.html").read_text()
    assert name in (report / "report.md").read_text()
    assert (report / "figures" / "s_vs_b.png").stat().st_size > 5000


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_real_model_file_is_a_config_error(default_config, tmp_path, damage):
    snakemake(tmp_path / "prep", config_for(default_config, "prep"))
    model = json.loads(next((tmp_path / "prep/results/prep/models").glob("*.json")).read_text())["path"]
    data = bytearray(Path(model).read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]  # the header intact, the tensor data cut short
    else:
        data[8:24] = b"\xff" * 16  # the tensor and metadata counts scrambled
    damaged = tmp_path / f"{damage}.gguf"
    damaged.write_bytes(bytes(data))
    config = {**config_for(default_config, damage), "models": [{"name": "m", "path": str(damaged)}]}
    result = snakemake(tmp_path / "work", config, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"models[0] ('m').path: '{damaged}' is a GGUF file cut short or corrupt" in result.stderr
    assert not (tmp_path / "work" / "results" / damage / "runs").exists()  # before any job
