"""The workflow through a real one-node SLURM cluster, with the shipped profile."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT
from slurm_cluster import slurm_cluster_fixture
from workflow import TINY, snakemake

pytestmark = pytest.mark.real
slurm = slurm_cluster_fixture(scope="module")


def scontrol_job(job_id: str, env: dict) -> dict:
    shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True,
                           text=True, check=True).stdout
    return dict(re.findall(r"(\S+?)=(\S+)", shown))


def slurm_config(**grid) -> dict:
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"), set_default=True)
    config["experiment"] = "slurm"
    config["models"] = [{"name": "tiny", "synthetic": {**TINY, "quant": "Q8_0"}}]
    config["grid"] = {"npp": [32, 64], "ntg": [16], "npl": [1, 2], "threads": 1, "batch": 2048,
                      "ubatch": 512, **grid}
    return config


def jobs_env(slurm) -> dict:
    """The jobs' own snakemake must be this environment's."""
    return {**slurm.env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), slurm.env["PATH"]])}


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    config, env = slurm_config(), jobs_env(slurm)
    workdir = tmp_path_factory.mktemp("slurm-run")
    snakemake(workdir, config, "--profile", str(ROOT / "profiles" / "slurm"), env=env)
    return workdir, config, env


def test_slurm_every_benchmark_row_is_ok_with_its_job_id_and_node(slurm, slurm_run, tmp_path):
    workdir, config, _ = slurm_run
    rows = pq.read_table(workdir / "results" / "slurm" / "runs.parquet").to_pandas()
    assert len(rows) == 4 and (rows["status"] == "ok").all(), rows[["status", "reason"]]
    assert (rows["job_scheduler"] == "slurm").all()
    assert rows["job_id"].str.fullmatch(r"\d+").all() and rows["job_id"].nunique() == 4
    assert (rows["job_node"] == slurm.node).all()
    # the same shape as a local run of the same config
    snakemake(tmp_path, config)
    local = pq.read_table(tmp_path / "results" / "slurm" / "runs.parquet").to_pandas()
    key = ["pp", "tg", "b", "n_kv", "status"]
    assert list(rows.columns) == list(local.columns)
    pd.testing.assert_frame_equal(rows[key].sort_values(key).reset_index(drop=True),
                                  local[key].sort_values(key).reset_index(drop=True))
    assert (local["job_scheduler"] == "local").all() and local["job_id"].isna().all()


def test_slurm_jobs_asked_for_the_computed_memory_and_cpus(slurm, slurm_run):
    workdir, _, env = slurm_run
    plan = pd.read_csv(workdir / "results" / "slurm" / "plan.tsv", sep="\t")
    rows = pq.read_table(workdir / "results" / "slurm" / "runs.parquet").to_pandas()
    merged = rows.merge(plan, on=["pp", "tg", "b", "rep"])
    for row in merged.itertuples():
        job = scontrol_job(row.job_id, env)
        assert job["MinMemoryNode"] == f"{row.mem_mb}M", job  # model + KV cache + buffers
        assert job["CPUs/Task"] == "1"  # the job's -t
        assert job["OverSubscribe"] == "NO"  # --exclusive: the whole node
        assert "gres" not in job.get("TresPerNode", "")  # a CPU build never asks for a GPU
        assert json.loads(row.command)[json.loads(row.command).index("-t") + 1] == "1"


def test_slurm_rerun_submits_nothing(slurm_run):
    workdir, config, env = slurm_run
    result = snakemake(workdir, config, "--profile", str(ROOT / "profiles" / "slurm"), "-n", env=env)
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.parametrize("packing", [["--groups", "bench_run=bench", "--group-components", "bench=4"],
                                     ["--slurm-array-jobs=bench_run"]], ids=["group", "array"])
def test_slurm_packed_submissions_never_overlap(slurm_run, tmp_path, packing):
    _, config, env = slurm_run
    result = snakemake(tmp_path, config, "--profile", str(ROOT / "profiles" / "slurm"), *packing, env=env)
    rows = pq.read_table(tmp_path / "results" / "slurm" / "runs.parquet").to_pandas()
    assert len(rows) == 4 and (rows["status"] == "ok").all()
    if "--groups" in packing:
        assert rows["job_id"].nunique() == 1  # one allocation for the four combinations
    else:
        assert "Submitted array job" in result.stdout + result.stderr
    rows = rows.sort_values("start_time")
    starts, ends = rows["start_time"].tolist(), rows["end_time"].tolist()
    assert all(end <= start for end, start in zip(ends[:-1], starts[1:], strict=True))


def test_slurm_time_limit_gives_a_timeout_row_and_command_line_resources_keep_jobs_consistent(slurm, tmp_path):
    """A command-line --set-resources (which replaces a profile's) shortens every benchmark's
    time limit to 2 minutes (room for a slow start of the short job): the long combination stops
    itself before it and is a `timeout` row, the scheduler sees a completed job, and the jobs
    stay exclusive with consistent CPUs."""
    env = jobs_env(slurm)
    config = slurm_config(npp=[32, 131072], npl=[1])  # PP=131072: minutes (32768 took 61 s here)
    snakemake(tmp_path, config, "--profile", str(ROOT / "profiles" / "slurm"),
              "--set-resources", "bench_run:runtime=2", "measure_limits:slurm_extra='--nice=0'", env=env)
    # not exclusive any more (a 1-CPU allocation on a 2-CPU node): its job step takes the 1 CPU
    # the allocation holds instead of asking for the node's (which SLURM refuses)
    limits = json.loads((tmp_path / "results" / "slurm" / "machine" / "limits.json").read_text())
    assert limits["threads"] == 1
    rows = pq.read_table(tmp_path / "results" / "slurm" / "runs.parquet").to_pandas()
    assert len(rows) == 2, rows[["pp", "status", "reason"]]
    long, short = rows[rows["pp"] == 131072].iloc[0], rows[rows["pp"] == 32].iloc[0]
    assert short["status"] == "ok", short["reason"]
    assert long["status"] == "timeout" and pd.isna(long["t"])
    assert long["reason"] == "stopped 30 s before the scheduler's 2-minute limit"
    for row in (long, short):
        job = scontrol_job(row["job_id"], env)
        assert job["TimeLimit"] == "00:02:00" and job["JobState"] == "COMPLETED", job
        assert job["OverSubscribe"] == "NO" and job["CPUs/Task"] == "1", job  # the rule's --exclusive
