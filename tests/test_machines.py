"""The machines axis: config, scheduler resources, partitions asked of sinfo, jobs, comparison."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from test_analysis import make_runs

from batchbench import UserError, figures, plan
from batchbench.analysis.combinations import combinations
from batchbench.analysis.comparison import comparison_tables, machine_comparison, machine_verdict
from batchbench.analysis.hardware import hardware_efficiency
from batchbench.machines import (
    check_executor,
    check_partitions,
    from_config,
    partitions,
    rule_resources,
    slurm_resources,
)
from batchbench.study import Study
from batchbench.tables import derive

TWO = [{"name": "genoa", "partition": "genoa", "account": "proj", "slurm_extra": ["--reservation=bench"]},
       {"name": "icelake", "partition": "cpu", "constraint": "icelake", "qos": "short"}]


def test_each_machine_puts_its_jobs_there_through_slurm_resources():
    genoa, icelake = from_config(TWO)
    assert slurm_resources(genoa, exclusive=True) == {
        "slurm_partition": "genoa", "slurm_account": "proj", "constraint": None, "qos": None,
        "slurm_extra": "--exclusive --reservation=bench"}
    assert slurm_resources(icelake) == {"slurm_partition": "cpu", "slurm_account": None,
                                        "constraint": "icelake", "qos": "short", "slurm_extra": None}
    # as rule resources: only what some machine sets (a site's default resources stay otherwise)
    by_path = {m.path: m for m in (genoa, icelake)}
    resources = rule_resources([genoa, icelake], lambda w: by_path[w], exclusive=False)
    assert resources["constraint"]("icelake/") == "icelake" and resources["constraint"]("genoa/") is None
    assert resources["slurm_extra"]("genoa/") == "--reservation=bench"
    only_partitions = from_config([{"name": "a", "partition": "p"}])
    assert set(rule_resources(only_partitions, lambda w: only_partitions[0], exclusive=True)) == {
        "slurm_partition", "slurm_extra"}


def test_an_extra_flag_reaches_sbatch_quoted():
    machine, = from_config([{"name": "x", "partition": "p", "slurm_extra": ["--comment=a b; rm -rf /"]}])
    assert slurm_resources(machine)["slurm_extra"] == "'--comment=a b; rm -rf /'"


@pytest.mark.parametrize("entry,words", [
    ({"name": "x", "local": True, "partition": "p"}, ["machines[0]", "local", "partition"]),
    ({"name": "x"}, ["machines[0]", "local: true", "partition"]),
])
def test_a_machine_must_say_where_it_is(entry, words):
    with pytest.raises(UserError) as err:
        from_config([entry])
    assert all(w in str(err.value) for w in words)


def test_scheduler_settings_need_a_cluster_and_local_needs_this_machine():
    cluster, local = from_config([TWO[0], {"name": "here", "local": True}])
    check_executor([cluster], submitting=True)
    check_executor([local], submitting=False)
    with pytest.raises(UserError, match=r"machines\[0\] \('genoa'\).*submitted to a cluster"):
        check_executor([cluster], submitting=False)
    with pytest.raises(UserError, match=r"machines\[1\] \('here'\).*local: true"):
        check_executor([cluster, local], submitting=True)


def fake_sinfo(folder, output: str, code: int = 0) -> dict:
    script = folder / "sinfo"
    script.write_text(f"#!/bin/sh\nprintf '{output}'\nexit {code}\n")
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_partition_sinfo_does_not_know_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_sinfo(tmp_path, "genoa\\ncpu\\n")["PATH"])
    assert partitions() == {"genoa", "cpu"}
    check_partitions(from_config(TWO), partitions())
    with pytest.raises(UserError, match=r"machines\[1\]\.partition: 'gpu' is not a partition.*cpu, genoa"):
        check_partitions(from_config([TWO[0], {"name": "g", "partition": "gpu"}]), partitions())
    # a scheduler that does not answer is not asked
    monkeypatch.setenv("PATH", fake_sinfo(tmp_path, "", code=1)["PATH"])
    assert partitions() is None


def test_the_workflow_refuses_an_unknown_partition_before_any_job(tmp_path, default_config):
    default_config["machines"] = [{"name": "a", "partition": "genoa"}, {"name": "b", "partition": "nowhere"}]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(default_config))
    env = fake_sinfo(tmp_path, "genoa\\n")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(tmp_path / "c.yaml"), "-n"],
                            capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "config error (nothing was run)" in result.stderr
    assert "machines[1].partition: 'nowhere' is not a partition" in result.stderr
    assert not (tmp_path / "results").exists()


def test_every_combination_runs_on_every_machine_interleaved(default_config):
    default_config["machines"] = TWO
    study = Study(default_config, ROOT)
    plain = Study({**default_config, "machines": None}, ROOT)
    assert len(study.jobs) == 2 * len(plain.jobs)
    # neighbours in the order alternate machines; each machine's jobs are the plain grid
    assert [j.machine for j in study.jobs[:4]] == ["genoa", "icelake", "icelake", "genoa"]
    for name in ("genoa", "icelake"):
        assert {(j.pp, j.tg, j.b, j.rep) for j in study.jobs if j.machine == name} == \
            {(j.pp, j.tg, j.b, j.rep) for j in plain.jobs}
    job = study.jobs[0]
    assert job.relpath().startswith("genoa/") and study.job_spec(job)["machine"] == "genoa"
    assert study.machine_of(job).partition == "genoa"
    assert "x 2 machine(s)" in plan.summary(study)
    # without machines: paths and job specs exactly as before
    assert not plain.machine_axis and "machine" not in plain.job_spec(plain.jobs[0])
    assert plain.jobs[0].relpath().split("/")[0] == plain.models[0].dir


def test_machines_need_their_own_names(default_config):
    default_config["machines"] = [TWO[0], {**TWO[1], "name": "genoa"}]
    with pytest.raises(UserError, match="machines: each entry needs its own name"):
        Study(default_config, ROOT)


def two_machines(ratio_tg: float = 1.0, reps=(1.0, 1.1, 0.9)):
    rows = []
    for machine, k in (("alpha", 1.0), ("beta", ratio_tg)):
        rows += [{"pp": 64, "tg": 16, "b": b, "t_pp": 1.0 * b, "t_tg": t * b * k / 2 if b > 1 else t * k,
                  "rep": i, "machine": machine} for b in (1, 2) for i, t in enumerate(reps, 1)]
    return make_runs(rows, model_info={"bytes": 1000, "decode_bytes": 800, "block_params": 50,
                                       "output_params": 10, "n_layer": 2, "n_head_kv": 2, "head_dim": 4},
                     host_name="node1")


def test_machines_are_compared_combination_by_combination_with_the_noise_test():
    runs = two_machines(ratio_tg=2.0)
    tables = comparison_tables(runs, {"experiment": "e", "build": "b1", "model": "m", "machine": "alpha"})
    ratios = tables["compare"][tables["compare"]["axis"] == "machine"].set_index(["b", "metric"])
    assert ratios.loc[(1, "t_tg"), "ratio"] == pytest.approx(2.0)
    assert ratios.loc[(1, "s_tg"), "ratio"] == pytest.approx(0.5)
    assert ratios.loc[(1, "t_tg"), "beyond_noise"] == True  # noqa: E712, 1.8–2.2 against 0.9–1.1
    assert ratios.loc[(1, "t_pp"), "ratio"] == pytest.approx(1.0)
    summary = tables["compare_summary"].set_index(["axis", "metric"])
    assert summary.loc[("machine", "s_tg"), "geomean_ratio"] == pytest.approx(0.5)
    assert summary.loc[("machine", "s_tg"), "judged"] == 2
    sentence, = machine_verdict(tables["compare"], tables["compare_summary"])
    assert sentence.startswith("alpha decodes 2.00x faster than beta (geometric mean over 2 combinations")
    assert "beyond the noise in 2 of 2" in sentence and "beta and alpha process prompts alike" in sentence


def test_equal_machines_are_within_the_noise():
    tables = comparison_tables(two_machines(), {"machine": "alpha"})
    sentence, = machine_verdict(tables["compare"], tables["compare_summary"])
    assert sentence.startswith("beta and alpha decode alike within the noise in every combination (ratio 1.00")
    assert "beta and alpha process prompts alike" in sentence


def test_each_machine_is_held_to_its_own_limits_and_drawn(tmp_path):
    limits = [{"machine": "alpha", "host_name": "node1", "bandwidth_gb_s": 1e-5, "flops_g": 1e-6},
              {"machine": "beta", "host_name": "node1", "bandwidth_gb_s": 2e-5, "flops_g": 4e-6}]
    table = machine_comparison(two_machines(), limits)
    assert set(table["machine"]) == {"alpha", "beta"}
    by = table.set_index(["machine", "b"])
    # the same achieved rate is half the share of a machine with twice the bandwidth
    assert by.loc[("beta", 1), "bandwidth_gb_s"] == pytest.approx(by.loc[("alpha", 1), "bandwidth_gb_s"])
    assert by.loc[("beta", 1), "bandwidth_pct"] == pytest.approx(by.loc[("alpha", 1), "bandwidth_pct"] / 2)
    assert by.loc[("beta", 1), "flops_pct"] == pytest.approx(by.loc[("alpha", 1), "flops_pct"] / 4)
    fig = figures.fig_machines(table)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["alpha", "beta"]
    figures.save(fig, str(tmp_path / "m.png"), str(tmp_path / "m.svg"))
    assert (tmp_path / "m.png").stat().st_size > 5000


def test_rows_without_machines_are_analysed_as_before():
    runs = make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 1, "t_tg": 1}])
    assert runs["machine"].isna().all()
    table = combinations(runs)
    assert (table["machine"] == "").all()
    assert comparison_tables(runs, {})["compare_summary"].empty
    assert machine_comparison(runs, None).empty
    assert np.isnan(hardware_efficiency(table, {"host_name": "x", "bandwidth_gb_s": 1.0})
                    .loc[0, "bandwidth_pct"])


def test_the_report_says_which_machine_is_ahead_and_when_their_jobs_ran_apart():
    from batchbench.report import document, sections

    runs = two_machines(ratio_tg=2.0)
    tables = comparison_tables(runs, {"machine": "alpha"})
    tables["compare_machines"] = machine_comparison(runs, None)
    r = document.Report()
    sections.machines_section(r, tables)
    sections.comparison_section(r, tables)
    text = " ".join(str(payload) for kind, payload in r.blocks if kind == "text")
    assert "alpha decodes 2.00x faster than beta" in text
    # no start times: not known to be interleaved, said for machines without "compare as an axis"
    assert "beta against alpha (machine): their jobs ran at different times" in text
    assert "compare them as an axis" not in text


def test_the_drift_sentinel_runs_on_every_machine(default_config):
    default_config["machines"] = TWO
    default_config["run"]["sentinel_every"] = 10
    study = Study(default_config, ROOT)
    sentinels = [j for j in study.jobs if j.sentinel]
    # at each point one per machine, the same combination: each machine's drift is its own
    assert [(j.sentinel, j.machine) for j in sentinels[:4]] == [(1, "genoa"), (1, "icelake"), (2, "genoa"),
                                                                 (2, "icelake")]
    assert len({(j.pp, j.tg, j.b, j.option_map.get("threads")) for j in sentinels}) == 1
    assert len({j.relpath() for j in study.jobs}) == len(study.jobs)
    assert study.job_spec(sentinels[1])["machine"] == "icelake"


def test_summary_model_drift_and_roofline_are_per_machine(tmp_path):
    """Issue 10's drift and issue 15's summary, decode model and roofline: a series per machine,
    each against its own limits."""
    from test_perf_model import generated
    from test_report import render

    shape = {"model_info": {"decode_bytes": 200_000_000, "block_params": 80_000_000, "output_params": 20_000_000,
                            "n_layer": 4, "n_head_kv": 4, "head_dim": 64}, "host_name": "h"}
    runs = pd.concat([generated(machine="alpha", **shape), generated(machine="beta", seed=2, **shape)],
                     ignore_index=True)
    sentinel = runs[(runs["pp"] == 128) & (runs["tg"] == 64) & (runs["b"] == 2)]
    for k, factor in enumerate((1.0, 1.1, 0.95), start=1):  # three re-measurements per machine
        runs = pd.concat([runs, sentinel.assign(rep=1 + k, sentinel=k, t_tg=sentinel["t_tg"] * factor,
                                                s_tg=sentinel["s_tg"] / factor)], ignore_index=True)
    methods = {"bandwidth_method": "stream", "flops_method": "matmul"}
    limits = [{"machine": "alpha", "host_name": "h", "bandwidth_gb_s": 20.0, "flops_g": 100.0, **methods},
              {"machine": "beta", "host_name": "h", "bandwidth_gb_s": 40.0, "flops_g": 200.0, **methods}]
    tables = derive(runs, limits)
    model = tables["perf_model"].set_index("machine")
    assert list(model.index) == ["alpha", "beta"]
    assert model.loc["beta", "bandwidth_limit_gb_s"] == 40.0 and model.loc["alpha", "bandwidth_limit_gb_s"] == 20.0
    summary = tables["summary"].set_index("machine")
    assert summary.loc["alpha", "combinations"] == summary.loc["beta", "combinations"] == 24
    roofs = tables["roofline"].groupby("machine")["flops_limit_g"].first()
    assert roofs.to_dict() == {"alpha": 100.0, "beta": 200.0}
    drift = tables["drift"]
    assert set(drift["machine"]) == {"alpha", "beta"} and (drift["n"] == 3).all()
    assert tables["combinations"]["n_reps"].eq(1).all()  # the sentinel's rows stay out of the grid's
    markdown, _ = render(runs, tmp_path, limits=limits)
    assert "Drift sentinel on alpha PP=128 TG=64 B=2, measured 3 times" in markdown
    assert "Drift sentinel on beta PP=128 TG=64 B=2" in markdown
    assert "Machine limits on machine beta, h" in markdown
    summary_text = markdown.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "m · b1 · alpha on h" in summary_text and "m · b1 · beta on h" in summary_text


def test_the_summary_says_which_machine_is_ahead():
    from batchbench.report import document, sections

    runs = two_machines(ratio_tg=2.0)
    tables = derive(runs, None)
    tables.update(comparison_tables(runs, {"machine": "alpha"}))
    r = document.Report()
    sections.summary_section(r, tables)
    text = " ".join(str(payload) for kind, payload in r.blocks if kind in ("text", "list"))
    assert "alpha decodes 2.00x faster than beta" in text
    # without machines: no machine column in the report's tables
    plain = derive(make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 1, "t_tg": 1}]), None)
    assert "machine" not in document.shown(plain["combinations"], ["model", "machine", "pp"]).columns
