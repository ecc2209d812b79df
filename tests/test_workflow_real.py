"""End to end with the real llama-batched-bench, built from the pinned source into the cache
(about 4 minutes the first time on 2 cores, then reused), on small synthetic models."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from workflow import base_config, bench_jobs_planned, runs, snakemake

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"), set_default=True)
    workdir = tmp_path_factory.mktemp("e2e")
    config = base_config(config, pp_shared=[False, True], kv_unified=[False, True])
    snakemake(workdir, config)
    return workdir, config


def test_one_ok_row_per_combination_with_consistent_metrics(grid_run):
    workdir, _ = grid_run
    df = runs(workdir)
    assert len(df) == 2 * 2 * 3 * 4  # models x npp x npl x (pps, kvu)
    assert (df["status"] == "ok").all(), df[["status", "reason"]]
    assert not df.duplicated(["model", "pp", "tg", "b", "pp_shared", "kv_unified"]).any()
    prompt = df["pp"].where(df["pp_shared"], df["b"] * df["pp"])
    # N_KV: (PP+TG)*B; PP + B*TG with a shared prompt in a unified cache; B*PP + B*TG with -pps alone
    expected = (df["pp"].where(df["pp_shared"] & df["kv_unified"], df["b"] * df["pp"])
                + df["b"] * df["tg"])
    assert (df["n_kv"] == expected).all()
    # S_PP = B*PP/T_PP (PP/T_PP with -pps), S_TG = B*TG/T_TG, within the printed rounding
    assert ((df["s_pp"] - prompt / df["t_pp"]).abs() <= 0.01 * df["s_pp"] + 0.01).all()
    assert ((df["s_tg"] - df["b"] * df["tg"] / df["t_tg"]).abs() <= 0.01 * df["s_tg"] + 0.01).all()
    assert ((df["t"] - df["t_pp"] - df["t_tg"]).abs() < 1e-3).all()
    assert (df["n_kv_max"] >= df["n_kv"]).all()


def test_provenance_is_filled(grid_run):
    workdir, _ = grid_run
    df = runs(workdir)
    for column in ("build_commit", "build_version", "build_flags", "build_patches", "model_sha256",
                   "model_arch", "model_quant", "host_name", "host_cpu", "command", "start_time"):
        assert df[column].notna().all(), column
    assert set(df["model_quant"]) == {"Q8_0", "F16"}
    assert (df["build_commit"] == "0c1e570").all()
    assert all("flush-log" in p for p in df["build_patches"])
    assert (df["model_params"] > 0).all() and (df["model_bytes"] > 0).all()
    assert (df["host_cores"] > 0).all() and (df["llama_n_threads"] == 2).all()
    command = json.loads(df["command"].iloc[0])
    assert command.count("-npl") == 1 and command[-2:] == ["--output-format", "jsonl"]


def test_benchmark_jobs_never_overlap(grid_run):
    workdir, _ = grid_run
    df = runs(workdir).sort_values("start_time")
    starts, ends = df["start_time"].tolist(), df["end_time"].tolist()
    assert all(ends[i] <= starts[i + 1] for i in range(len(starts) - 1))


def test_jobs_run_in_the_planned_interleaved_order(grid_run):
    workdir, _ = grid_run
    plan = pd.read_csv(workdir / "results" / "e2e" / "plan.tsv", sep="\t")
    key = ["model", "pp", "b", "pp_shared", "kv_unified"]
    plan["pp_shared"] = plan["options"].str.contains("pps")
    plan["kv_unified"] = plan["options"].str.contains("kvu")
    ran = runs(workdir).sort_values("start_time")
    assert list(ran[key].itertuples(index=False)) == list(plan[key].itertuples(index=False))
    # the two models take turns: never more than two jobs of one in a row
    models = ran["model"].tolist()
    assert all(len(set(models[i:i + 3])) == 2 for i in range(len(models) - 2))


def test_rerun_does_nothing_and_a_new_axis_value_runs_only_new_jobs(grid_run):
    workdir, config = grid_run
    dry = snakemake(workdir, config, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    config = {**config, "grid": {**config["grid"], "npl": [1, 2, 4, 8]}}
    dry = snakemake(workdir, config, "-n")
    assert bench_jobs_planned(dry) == 2 * 2 * 4  # models x npp x (pps, kvu) at the new B
    before = runs(workdir)
    snakemake(workdir, config)
    after = runs(workdir)
    assert len(after) == len(before) + 16 and (after["status"] == "ok").all()
    kept = after.merge(before, on=["model", "pp", "b", "pp_shared", "kv_unified"])
    assert (kept["start_time_x"] == kept["start_time_y"]).all()  # nothing measured again


def test_fixed_context_gives_skipped_rows_and_an_old_binary_its_markdown(grid_run, tmp_path):
    workdir, config = grid_run
    build = json.loads(next((workdir / "results" / "e2e" / "builds").glob("*.json")).read_text())
    # An "older" binary: the real one, but its --help does not offer --output-format.
    old = tmp_path / "old-llama-batched-bench"
    old.write_text(f"""#!/bin/sh
if [ "$1" = "--help" ]; then "{build['batched_bench']}" --help 2>&1 | grep -v -- --output-format; exit 0; fi
exec "{build['batched_bench']}" "$@"
""")
    old.chmod(0o755)
    config = {**base_config(config, npp=[200], ntg=[100], npl=[1, 2, 4], ctx=1024),
              "experiment": "fixed", "builds": [{"name": "old", "binaries": {"batched_bench": str(old)}}]}
    config["models"] = config["models"][1:]  # F16: no quantizer needed from a given build
    snakemake(tmp_path, config)
    df = runs(tmp_path, "fixed").set_index("b")
    assert df.loc[1, "status"] == "ok" and df.loc[1, "n_kv"] == 300
    assert "--output-format" not in json.loads(df.loc[1, "command"])
    # -c 1024 with 2 sequences: 2 x pad256(512) = 1024 cells for 2 x 300; with 4: 4 x 256 < 4 x 300
    assert df.loc[2, "status"] == "ok" and df.loc[2, "n_kv_max"] == 1024
    assert df.loc[4, "status"] == "skipped" and "exceeds" in df.loc[4, "reason"]
    assert df.loc[4, "n_kv"] == 1200 and df.loc[4, "n_kv_max"] == 1024


def test_missing_model_fails_before_any_job(default_config, tmp_path):
    config = {**default_config, "models": [{"name": "mine", "path": "/models/absent.gguf"}]}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "models[0]" in result.stderr and "/models/absent.gguf" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_portable_build_runs_with_its_cpu_variants(default_config, tmp_path):
    """GGML_NATIVE=OFF with every CPU variant loaded at run time: for clusters whose login and
    compute nodes differ (builds a dozen variants: about 11 minutes on 2 cores, once)."""
    config = base_config(default_config, npp=[32], ntg=[8], npl=[2])
    config["experiment"] = "portable"
    config["builds"] = [{**default_config["builds"][0], "name": "portable", "portable": True}]
    config["models"] = config["models"][1:]  # F16: no quantizing needed
    snakemake(tmp_path, config)
    df = runs(tmp_path, "portable")
    assert (df["status"] == "ok").all() and len(df) == 1
    assert "-DGGML_CPU_ALL_VARIANTS=ON" in json.loads(df["build_flags"].iloc[0])
    binary = Path(json.loads(df["command"].iloc[0])[0])
    assert len(list(binary.parent.glob("libggml-cpu-*.so"))) >= 5


def test_the_run_is_analysed_compared_and_reported(grid_run):
    from browser import first_screen_problems, open_page, outside_requests

    from batchbench.outputs import FIGURES

    workdir, _ = grid_run
    results = workdir / "results" / "e2e"
    limits = json.loads((results / "machine" / "limits.json").read_text())
    assert limits["bandwidth_gb_s"] > 0 and limits["flops_g"] > 0
    hardware = pd.read_parquet(results / "analysis" / "hardware.parquet")
    assert (hardware["bandwidth_gb_s"] > 0).all() and hardware["bandwidth_pct"].notna().all()
    # a ratio in the analysis is the ratio of the rows in runs.parquet
    df = runs(workdir)
    plain = df[(df["model"] == "tiny-f16") & ~df["pp_shared"] & ~df["kv_unified"] & (df["pp"] == 32)]
    expected = plain.set_index("b")["t_tg"]
    scaling = pd.read_parquet(results / "analysis" / "generation_scaling.parquet")
    mine = scaling[(scaling["model"] == "tiny-f16") & (scaling["pp"] == 32)
                   & (scaling["config"] == "pp_shared=False kv_unified=False")].set_index("b")
    assert mine.loc[4, "t_tg_ratio"] == pytest.approx(expected[4] / expected[1])
    # two models of one run: compared, and known to come from the same (interleaved) run
    summary = pd.read_parquet(results / "comparison" / "compare_summary.parquet")
    assert set(summary["axis"]) == {"model"} and summary["same_run"].all()
    assert (summary["matched"] == len(df) // 2).all()  # every combination of one model has its match
    markdown = (results / "report.md").read_text()
    assert "## Comparison" in markdown and "GB/s" in markdown
    shown = open_page(results / "report.html", ROOT / "tests" / "artifacts" / "report-e2e.png")
    assert outside_requests(shown, results / "report.html") == []
    assert len(shown["images"]) == len(FIGURES) + 1 and all(c and w > 100 for c, w, _ in shown["images"])
    assert first_screen_problems(shown) == []
    # the decode model is fitted per series, and the roofline has both phases of every combination
    model = pd.read_parquet(results / "analysis" / "perf_model.parquet")
    assert len(model) == len(df.groupby(["model", "pp_shared", "kv_unified"]))
    assert (model["memory_ms"].gt(0) | model["note"].str.contains("value\\(s\\) of B|no valid row")).all()
    roofline = pd.read_parquet(results / "analysis" / "roofline.parquet")
    assert set(roofline["phase"]) == {"prompt", "decode"} and (roofline["gflops"] > 0).all()
    assert roofline["flops_limit_g"].notna().all()
