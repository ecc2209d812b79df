"""Two machines in one study: the test cluster's two partitions over its one node, with the shipped
profile and the real llama-batched-bench."""

import json
import re
import subprocess

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from slurm_cluster import slurm_cluster_fixture
from test_slurm_workflow import jobs_env, slurm_config
from workflow import VERDICT_OFF, snakemake

pytestmark = pytest.mark.real
slurm = slurm_cluster_fixture(scope="module")


@pytest.fixture(scope="module")
def machines_run(slurm, tmp_path_factory):
    config, env = slurm_config(npp=[32], repetitions=3), jobs_env(slurm)
    config["experiment"] = "machines"
    # the interference verdict off, as in the other end-to-end tests: on a shared machine it would
    # leave disturbed combinations out of the comparison this test is about
    config["run"] = {**config["run"], **VERDICT_OFF}
    config["machines"] = [{"name": "first", "partition": slurm.partitions[0]},
                          {"name": "second", "partition": slurm.partitions[1]}]
    workdir = tmp_path_factory.mktemp("machines-run")
    snakemake(workdir, config, "--profile", str(ROOT / "profiles" / "slurm"), env=env)
    return workdir, config, env


def partition_of(job_id: str, env: dict) -> str:
    shown = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True,
                           check=True).stdout
    return re.search(r"Partition=(\S+)", shown).group(1)


def test_every_row_carries_its_machine_and_ran_on_its_partition(machines_run):
    workdir, config, env = machines_run
    rows = pq.read_table(workdir / "results" / "machines" / "runs.parquet").to_pandas()
    assert len(rows) == 12 and (rows["status"] == "ok").all(), rows[["status", "reason"]]
    assert rows.groupby("machine").size().to_dict() == {"first": 6, "second": 6}
    partitions = {m["name"]: m["partition"] for m in config["machines"]}
    assert rows["job_id"].nunique() == 12
    for row in rows.itertuples():
        assert partition_of(row.job_id, env) == partitions[row.machine], row
    # each machine's limits were measured on a node of that partition, and say whose they are
    for name in partitions:
        limits = json.loads((workdir / "results" / "machines" / "machine" / name / "limits.json").read_text())
        assert limits["machine"] == name and limits["bandwidth_gb_s"] > 0


def test_two_partitions_of_one_node_type_share_one_build(machines_run):
    workdir, _, _ = machines_run
    builds = [json.loads(p.read_text()) for p in sorted((workdir / "results" / "machines" / "builds").glob("*/*.json"))]
    assert len(builds) == 2
    assert builds[0]["batched_bench"] == builds[1]["batched_bench"]


def test_the_machines_are_compared_combination_by_combination(machines_run):
    workdir, _, _ = machines_run
    results = workdir / "results" / "machines"
    ratios = pd.read_parquet(results / "comparison" / "compare.parquet")
    ratios = ratios[ratios["axis"] == "machine"]
    assert set(ratios["baseline"]) == {"first"} and set(ratios["other"]) == {"second"}
    assert sorted(ratios.loc[ratios["metric"] == "s_tg", "b"]) == [1, 2]
    summary = pd.read_parquet(results / "comparison" / "compare_summary.parquet")
    s_tg = summary[(summary["axis"] == "machine") & (summary["metric"] == "s_tg")].iloc[0]
    # every combination with 3 repetitions per machine: the noise test judged each (its verdict and
    # the ratio are measurements of a shared VM, not asserted)
    assert s_tg["matched"] == 2 and s_tg["judged"] == 2
    assert 0 < s_tg["geomean_ratio"] < 10
    shares = pd.read_parquet(results / "machine_comparison" / "compare_machines.parquet")
    assert set(shares["machine"]) == {"first", "second"}
    assert shares["bandwidth_pct"].notna().all() and shares["flops_pct"].notna().all()
    assert (results / "machine_comparison" / "compare_machines.png").stat().st_size > 10_000
    report = (results / "report.md").read_text()
    machines = report.split("## Machines", 1)[1]
    assert re.search(r"(first|second) decodes [\d.]+x faster than|second and first decode alike within the noise",
                     machines), machines[:2000]


def test_a_rerun_submits_nothing(machines_run):
    workdir, config, env = machines_run
    result = snakemake(workdir, config, "--profile", str(ROOT / "profiles" / "slurm"), "-n", env=env)
    assert "Nothing to be done" in result.stdout + result.stderr
