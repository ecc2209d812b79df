"""Every derived number on fixed input, the seed's own table among them."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES

from batchbench.analysis.combinations import Thresholds, combinations
from batchbench.analysis.comparison import compare, compare_summary, comparison_pairs, comparison_tables
from batchbench.analysis.hardware import hardware_efficiency
from batchbench.analysis.latency import pareto_front
from batchbench.analysis.quality import drift
from batchbench.analysis.questions import context_effects, n_kv_check, prompt_phase, saturation_point
from batchbench.anonymise import anonymise
from batchbench.collect import runs_table
from batchbench.importer import import_records
from batchbench.outputs import TABLES
from batchbench.record import SCHEMA_VERSION
from batchbench.tables import derive

SEED = FIXTURES / "logs" / "seed-table.md"


def seed_runs() -> pd.DataFrame:
    return runs_table(import_records(str(SEED), "seed")).to_pandas()


def make_runs(rows: list[dict], **common) -> pd.DataFrame:
    """runs.parquet rows from (pp, tg, b, t_pp, t_tg [, rep]) with batched-bench's arithmetic."""
    records = []
    for row in rows:
        pp, tg, b, t_pp, t_tg = (row[k] for k in ("pp", "tg", "b", "t_pp", "t_tg"))
        metrics = {"n_kv": (pp + tg) * b, "t_pp": t_pp, "s_pp": b * pp / t_pp if t_pp else 0.0,
                   "t_tg": t_tg, "s_tg": b * tg / t_tg, "t": t_pp + t_tg,
                   "s": (pp + tg) * b / (t_pp + t_tg)}
        records.append({"schema_version": SCHEMA_VERSION, "experiment": "e", "model": row.get("model", "m"),
                        "build": "b1",
                        "rep": row.get("rep", 1), "pp": pp, "tg": tg, "b": b, "status": "ok", "reason": "",
                        "machine": row.get("machine"), "metrics": metrics, "options": {}, **common})
    return runs_table(records).to_pandas()


@pytest.fixture(scope="module")
def seed():
    runs = seed_runs()
    return runs, derive(runs, None)


def test_seed_generation_scaling_and_saturation(seed):
    _, tables = seed
    scaling = tables["generation_scaling"]
    series = scaling[(scaling["pp"] == 128) & (scaling["tg"] == 128)].set_index("b")
    assert [round(series.loc[b, "t_tg_ratio"], 2) for b in (2, 4, 8)] == [1.26, 2.07, 4.25]
    assert list(series["ideal_ratio"]) == [1.0, 2.0, 4.0, 8.0]
    assert series.loc[8, "efficiency"] == pytest.approx(16.27 / (8 * 8.65))
    assert list(series["regime"]) == ["", "sub-linear", "sub-linear", "linear"]
    saturation = tables["saturation"]
    point = saturation[(saturation["pp"] == 128) & (saturation["tg"] == 128)].set_index("metric")
    assert point.loc["s_tg", "saturation_b"] == 4 and point.loc["s", "saturation_b"] == 4
    # PP=512: only B = 1, 2 fit in -c 2048, so no doubling fails to gain
    point = saturation[(saturation["pp"] == 512) & (saturation["tg"] == 128)].set_index("metric")
    assert np.isnan(point.loc["s_tg", "saturation_b"]) and "not reached" in point.loc["s_tg", "why"]


def test_seed_n_kv_and_prompt_phase(seed):
    _, tables = seed
    check = tables["n_kv_check"]
    assert len(check) == 17 and not check["mismatch"].any()
    prompt = tables["prompt_phase"].set_index("b")
    assert prompt.loc[1, "n_points"] == 6
    # T_PP (ms) against B·PP over the six B = 1 rows, by the normal equations
    x = np.array([128, 128, 256, 256, 512, 512], float)
    y = np.array([5432, 6956, 13268, 11802, 27375, 22862], float)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert prompt.loc[1, "slope_ms_per_token"] == pytest.approx(slope)
    assert prompt.loc[1, "intercept_ms"] == pytest.approx(y.mean() - slope * x.mean())
    assert round(prompt.loc[2, "r2"], 4) == 0.9974
    assert np.isnan(prompt.loc[8, "slope_ms_per_token"]) and "no line" in prompt.loc[8, "note"]
    s_pp = np.array([23.56, 18.40, 19.30, 21.69, 18.70, 22.40])
    assert prompt.loc[1, "s_pp_cv"] == pytest.approx(s_pp.std(ddof=1) / s_pp.mean())


def test_seed_latency_and_perf_reconciliation(seed):
    runs, tables = seed
    latency = tables["latency"].set_index(["pp", "tg", "b"])
    assert latency.loc[(128, 128, 1), "ttft_s"] == pytest.approx(5.432 + 14.804 / 128)
    assert latency.loc[(128, 128, 1), "tpot_ms"] == pytest.approx(14.804 / 128 * 1000)
    assert latency.loc[(512, 256, 2), "e2e_s"] == 88.494
    perf = tables["perf_reconciliation"].set_index("counter")
    assert perf.loc["prompt eval", "table_count"] == perf.loc["prompt eval", "logged_count"] == 15888
    assert perf.loc["prompt eval", "table_ms"] == pytest.approx(451_398 + 452_314)  # ΣT_PP + ΣT_TG(B≥2)
    assert perf.loc["eval", "table_count"] == perf.loc["eval", "logged_count"] == 1152
    assert perf.loc["eval", "table_ms"] == pytest.approx(152_895)
    assert abs(perf.loc["prompt eval", "difference_share"]) < 0.001
    assert len(tables["failures"]) == 19 and set(tables["failures"]["status"]) == {"skipped"}


def test_n_kv_mismatch_says_which_formula_fits():
    runs = make_runs([{"pp": 100, "tg": 10, "b": 4, "t_pp": 1.0, "t_tg": 1.0}])
    runs.loc[0, "n_kv"] = 100 + 4 * 10  # what a shared prompt in a unified cache fills
    check = n_kv_check(combinations(runs))
    assert bool(check.loc[0, "mismatch"]) and check.loc[0, "expected_n_kv"] == 440
    assert check.loc[0, "matches"] == "PP + B·TG"


def test_a_perfect_line_is_fitted_exactly():
    rows = [{"pp": pp, "tg": 8, "b": b, "t_pp": 0.010 + 0.002 * pp * b, "t_tg": 1.0}
            for pp in (64, 128, 256) for b in (1, 2)]
    prompt = prompt_phase(combinations(make_runs(rows))).set_index("b")
    assert prompt.loc[2, "slope_ms_per_token"] == pytest.approx(2.0)
    assert prompt.loc[2, "intercept_ms"] == pytest.approx(10.0)
    assert prompt.loc[2, "r2"] == pytest.approx(1.0)


def test_repetitions_median_spread_and_bootstrap():
    t_tg = [1.0, 1.1, 0.9, 1.2, 1.05]
    rows = [{"pp": 64, "tg": 64, "b": 1, "t_pp": 0.5, "t_tg": t, "rep": i} for i, t in enumerate(t_tg, 1)]
    rows += [{"pp": 64, "tg": 64, "b": 2, "t_pp": 0.5, "t_tg": t, "rep": i} for i, t in enumerate(t_tg[:3], 1)]
    table = combinations(make_runs(rows), Thresholds(max_cv=0.05)).set_index("b")
    five, three = table.loc[1], table.loc[2]
    assert five["n_reps"] == 5 and five["t_tg"] == 1.05
    assert (five["t_tg_min"], five["t_tg_max"]) == (0.9, 1.2)
    assert five["t_tg_cv"] == pytest.approx(np.std(t_tg, ddof=1) / np.mean(t_tg))
    assert 0.9 <= five["t_tg_ci_low"] <= 1.05 <= five["t_tg_ci_high"] <= 1.2
    assert three["t_tg"] == 1.0 and np.isnan(three["t_tg_ci_low"])  # too few for a bootstrap
    assert "T_TG CV" in five["flags"] and not five["valid"]


def test_short_timings_are_flagged_not_dropped():
    runs = make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 0.020, "t_tg": 0.5}])
    table = combinations(runs, Thresholds(min_time_s=0.05))
    assert table.loc[0, "flags"] == "T_PP 20.0 ms < 50 ms" and not table.loc[0, "valid"]


def test_a_published_row_that_disagrees_with_itself_is_flagged():
    """Fixture 08's typo row (T printed 1.000 s above T_PP + T_TG) reaches the combinations flagged."""
    log = FIXTURES / "logs" / "08-stepfun-readme-usage-three-tables-pp0-retypeset.md"
    table = combinations(runs_table(import_records(str(log), "e")).to_pandas())
    flagged = table[~table["valid"]]
    assert list(zip(flagged["pp"], flagged["flags"], strict=True)) == [
        (16384, "inconsistent as printed: T 164.343 s is not T_PP + T_TG = 163.343 s (+1.000 s)")]


@pytest.mark.parametrize("rows", [
    [{"pp": 64, "tg": 16, "b": 4, "t_pp": 0.01, "t_tg": 0.01}],            # one row, no B = 1, too short
    [{"pp": 0, "tg": 128, "b": b, "t_pp": 0.9, "t_tg": 10.0 * b} for b in (2, 4)],  # PP = 0
    [],                                                                     # nothing at all
])
def test_thin_data_never_crashes(rows):
    runs = make_runs(rows) if rows else make_runs([{"pp": 1, "tg": 1, "b": 1, "t_pp": 1, "t_tg": 1}]).iloc[:0]
    tables = derive(runs, None)
    assert set(tables) == set(TABLES)
    if rows:
        scaling = tables["generation_scaling"]
        assert scaling["t_tg_ratio"].isna().all() and scaling["note"].str.contains("no B = 1").all()


def test_pareto_frontier():
    throughput = pd.Series([10.0, 20.0, 15.0, 30.0])
    latency = pd.Series([1.0, 2.0, 3.0, 4.0])
    assert list(pareto_front(throughput, latency)) == [True, True, False, True]


def test_hardware_efficiency_against_measured_limits():
    runs = make_runs([{"pp": 100, "tg": 11, "b": 2, "t_pp": 0.5, "t_tg": 2.0}],
                     model_info={"bytes": 1000, "decode_bytes": 800, "block_params": 50, "output_params": 10,
                                 "n_layer": 2, "n_head_kv": 2, "head_dim": 4},
                     host_name="node1")
    hardware = hardware_efficiency(combinations(runs),
                                            {"host_name": "node1", "bandwidth_gb_s": 1e-5, "flops_g": 1e-6})
    cell = 2 * 2 * 4 * (2.0 + 2.0)          # layers × kv heads × head size × (K + V in f16)
    per_step = 800 + 2 * (100 + 10 / 2) * cell
    assert hardware.loc[0, "bytes_per_step"] == per_step
    assert hardware.loc[0, "bandwidth_gb_s"] == pytest.approx(per_step * 11 / 2.0 / 1e9)
    assert hardware.loc[0, "flops_g"] == pytest.approx(2 * (50 * 200 + 10 * 2) / 0.5 / 1e9)
    assert hardware.loc[0, "bandwidth_pct"] == pytest.approx(100 * per_step * 11 / 2.0 / 1e9 / 1e-5)
    other = hardware_efficiency(combinations(runs), {"host_name": "elsewhere",
                                                                       "bandwidth_gb_s": 1.0, "flops_g": 1.0})
    assert np.isnan(other.loc[0, "bandwidth_pct"]) and "not measured" in other.loc[0, "note"]


def test_context_effects_relative_to_the_smallest():
    rows = [{"pp": pp, "tg": tg, "b": 1, "t_pp": pp / 100, "t_tg": tg / 10} for pp in (100, 200) for tg in (10, 20)]
    effects = context_effects(combinations(make_runs(rows))).set_index(["pp", "tg"])
    assert effects.loc[(100, 10), "s_vs_smallest_pp"] == 1.0
    s = {k: (k[0] + k[1]) / (k[0] / 100 + k[1] / 10) for k in [(100, 10), (200, 10), (100, 20)]}
    assert effects.loc[(200, 10), "s_vs_smallest_pp"] == pytest.approx(s[(200, 10)] / s[(100, 10)])
    assert effects.loc[(100, 20), "s_vs_smallest_tg"] == pytest.approx(s[(100, 20)] / s[(100, 10)])


def test_anonymise_hides_hosts_paths_and_jobs():
    runs = make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 1, "t_tg": 1}], host_name="gpu-node-17.example.org",
                     job_id="123456", reason="model /home/alice/models/q.gguf on gpu-node-17.example.org")
    shared, limits = anonymise(runs, {"host_name": "gpu-node-17.example.org"})
    text = json.dumps(shared.astype(str).to_dict("records")) + json.dumps(limits)
    assert "gpu-node-17" not in text and "alice" not in text and "123456" not in text
    assert shared.loc[0, "host_name"] == limits["host_name"] == "host-1"
    assert shared.loc[0, "reason"] == "model q.gguf on host-1"


def test_comparison_ratios_geomean_and_noise():
    fast = [{"pp": 64, "tg": 16, "b": b, "t_pp": 1.0 * b, "t_tg": t, "rep": i, "model": "fast"}
            for b in (1, 2) for i, t in enumerate((1.0, 1.1, 0.9), 1)]
    slow = [{"pp": 64, "tg": 16, "b": b, "t_pp": 2.0 * b, "t_tg": t * k, "rep": i, "model": "slow"}
            for b, k in ((1, 1.05), (2, 4.0)) for i, t in enumerate((1.0, 1.1, 0.9), 1)]
    table = combinations(make_runs(fast + slow))
    pairs = comparison_pairs(table, {"model": "fast"})
    assert pairs == [("model", "fast", "slow")]
    ratios, note = compare(table, *pairs[0])
    assert note == "" and set(ratios["model"]) == {"fast / slow"}
    ratios = ratios.set_index(["b", "metric"])
    assert ratios.loc[(1, "t_tg"), "ratio"] == pytest.approx(1.05)
    assert ratios.loc[(1, "t_tg"), "beyond_noise"] == False  # noqa: E712, 0.945–1.155 overlaps 0.9–1.1
    assert ratios.loc[(2, "t_tg"), "beyond_noise"] == True  # noqa: E712, 3.6–4.4 against 0.9–1.1
    assert ratios.loc[(2, "t_pp"), "ratio"] == pytest.approx(2.0)
    summary = compare_summary(table, ratios.reset_index(), pairs, {}).set_index("metric")
    assert summary.loc["t_tg", "geomean_ratio"] == pytest.approx(np.sqrt(1.05 * 4.0))
    assert summary.loc["t_tg", "beyond_noise"] == 1 and summary.loc["t_tg", "judged"] == 2
    assert not summary.loc["t_tg", "same_run"]  # no start times: not known to be one run


def test_comparing_runs_whose_models_are_named_differently():
    """Two machines' imported logs: each experiment's model is named after its file."""
    one = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 1.0, "t_tg": 1.0 * b, "model": "a.log"} for b in (1, 2)])
    two = make_runs([{"pp": 64, "tg": 16, "b": b, "t_pp": 0.5, "t_tg": 2.0 * b, "model": "b.log"} for b in (1, 2)])
    two["experiment"] = "other"
    table = combinations(pd.concat([one, two], ignore_index=True))
    pairs = comparison_pairs(table, {"experiment": "e"})
    assert pairs == [("experiment", "e", "other")]  # models of different runs are not paired by name
    ratios, note = compare(table, *pairs[0])
    assert note == "" and set(ratios["model"]) == {"a.log / b.log"}
    t_tg = ratios[ratios["metric"] == "t_tg"].set_index("b")["ratio"]
    assert list(t_tg) == [2.0, 2.0]


def test_a_zero_baseline_gives_an_undefined_ratio_not_a_crash():
    rows = [{"pp": 0, "tg": 16, "b": b, "t_pp": 0.5, "t_tg": 1.0 * b, "model": m} for b in (1, 2) for m in "xy"]
    table = combinations(make_runs(rows))  # PP = 0: S_PP is 0
    pairs = comparison_pairs(table, {})
    ratios, _ = compare(table, *pairs[0])
    assert ratios.loc[ratios["metric"] == "s_pp", "ratio"].isna().all()
    summary = compare_summary(table, ratios, pairs, {}).set_index("metric")
    assert "undefined" in summary.loc["s_pp", "note"] and summary.loc["t_tg", "geomean_ratio"] == 1.0


def test_nothing_in_common_is_said_not_hidden():
    one = make_runs([{"pp": 64, "tg": 16, "b": 1, "t_pp": 1.0, "t_tg": 1.0}])
    two = make_runs([{"pp": 128, "tg": 16, "b": 1, "t_pp": 1.0, "t_tg": 1.0}])
    two["experiment"] = "other"
    table = combinations(pd.concat([one, two], ignore_index=True))
    pairs = comparison_pairs(table, {})
    ratios, note = compare(table, *pairs[0])
    assert ratios.empty and "no combination in common" in note
    summary = compare_summary(table, ratios, pairs, {pairs[0]: note})
    assert summary.loc[0, "matched"] == 0 and "no combination in common" in summary.loc[0, "note"]


def test_anonymise_keeps_urls_and_tells_similar_hosts_apart():
    runs = make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 1, "t_tg": 1}] * 2, host_name="node1")
    runs.loc[1, "host_name"] = "node10"
    runs["reason"] = "built from https://github.com/ggml-org/llama.cpp on node10, then node1"
    shared, _ = anonymise(runs)
    assert list(shared["host_name"]) == ["host-1", "host-2"]
    assert shared.loc[0, "reason"] == "built from https://github.com/ggml-org/llama.cpp on host-2, then host-1"


def test_a_dip_then_growth_is_not_saturation():
    dip = pd.Series({1: 100.0, 2: 90.0, 4: 150.0, 8: 250.0, 16: 260.0, 32: 262.0})
    assert saturation_point(dip, 0.10)[0] == 8       # 16 and 32 gain 4% and 1%
    rising = pd.Series({1: 100.0, 2: 90.0, 4: 150.0})
    b, why = saturation_point(rising, 0.10)
    assert np.isnan(b) and why == "not reached up to B = 4, the largest measured: doubling B = 2 still gains +67%"


def test_a_gpu_run_is_not_measured_against_the_cpu_limits():
    runs = make_runs([{"pp": 100, "tg": 11, "b": 2, "t_pp": 0.5, "t_tg": 2.0}],
                     model_info={"bytes": 1000, "decode_bytes": 800, "block_params": 50, "output_params": 10,
                                 "n_layer": 2, "n_head_kv": 2, "head_dim": 4},
                     host_name="node1", options={"n_gpu_layers": 99})
    hardware = hardware_efficiency(combinations(runs),
                                            {"host_name": "node1", "bandwidth_gb_s": 1.0, "flops_g": 1.0})
    assert hardware.loc[0, "bandwidth_gb_s"] > 0 and np.isnan(hardware.loc[0, "bandwidth_pct"])
    assert "GPU" in hardware.loc[0, "note"]


LOGS = sorted((FIXTURES / "logs").glob("0*.txt")) + [SEED]


@pytest.mark.parametrize("log", LOGS, ids=lambda p: p.name[:24])
def test_published_logs_have_no_outlier(log):
    table = combinations(runs_table(import_records(str(log), "x")).to_pandas())
    assert not table["outlier"].any(), table.loc[table["outlier"], "flags"].tolist()


def test_the_outlier_check_judges_long_series(seed):
    """The published log with 16 values of B is judged (not just skipped for being short)."""
    log = FIXTURES / "logs" / "03-ik-d164-cpu-shared-prompt-headerless-crlf.txt"
    runs = runs_table(import_records(str(log), "x")).to_pandas()
    slow = runs.index[(runs["b"] == 8) & (runs["pp"] == 128) & (runs["tg"] == 128)]
    runs.loc[slow, "t_tg"] *= 1.6
    table = combinations(runs).set_index(["pp", "tg", "b"])
    assert list(table.index[table["outlier"]]) == [(128, 128, 8)]
    flags = table.loc[(128, 128, 8), "flags"]
    assert "outlier: T_TG/TG" in flags and "at B=8 is 1.6" in flags


def disturbed_series(factor: float, at: int, **extra) -> pd.DataFrame:
    """A smooth series of per-step decode times shaped like the seed's (flat at small B, then
    growing in proportion to B), with the job at B = `at` slowed `factor` times."""
    step = {1: 0.0045, 2: 0.0052, 4: 0.0071, 8: 0.0112, 16: 0.0205, 32: 0.0398}
    rows = [{"pp": 128, "tg": 128, "b": b, "t_pp": 0.02 * b, "t_tg": 128 * s * (factor if b == at else 1)}
            for b, s in step.items()]
    return make_runs(rows, **extra)


def test_a_disturbed_point_is_an_outlier_and_left_out_of_the_verdicts():
    quiet = derive(disturbed_series(1, 4), None)
    assert not quiet["combinations"]["outlier"].any()
    tables = derive(disturbed_series(9.8, 4), None)
    table = tables["combinations"].set_index("b")
    assert list(table.index[table["outlier"]]) == [4] and not table.loc[4, "valid"]
    assert "at B=4 is 9." in table.loc[4, "flags"]
    assert 4 not in set(tables["generation_scaling"]["b"]) and len(tables["generation_scaling"]) == 5


def test_disturbed_rows_are_flagged_with_their_reason():
    runs = disturbed_series(1, 4, disturbed=False, disturbed_reason="")
    at = runs.index[runs["b"] == 16]
    runs.loc[at, "disturbed"] = True
    runs.loc[at, "disturbed_reason"] = "the machine's CPU was contended for 38% of the job"
    tables = derive(runs, None)
    table = tables["combinations"].set_index("b")
    assert table.loc[16, "disturbed"] and not table.loc[16, "valid"]
    assert table.loc[16, "flags"] == ("disturbed (1 of 1 repetitions): the machine's CPU was contended for 38% "
                                      "of the job")
    assert table["disturbed"].sum() == 1
    assert 16 not in set(tables["generation_scaling"]["b"])


def test_drift_sentinel_spread_and_noise_floor():
    rows = [{"pp": 128, "tg": 128, "b": b, "t_pp": 0.1 * b, "t_tg": 1.0 + 0.2 * b} for b in (1, 2, 4)]
    rows += [{"pp": 128, "tg": 128, "b": 2, "t_pp": 0.2, "t_tg": t, "rep": 1 + k}
             for k, t in enumerate((1.4, 1.47, 1.4, 1.33), start=1)]
    runs = make_runs(rows)
    runs.loc[runs["rep"] > 1, "sentinel"] = runs.loc[runs["rep"] > 1, "rep"] - 1
    table = combinations(runs).set_index("b")
    assert table.loc[2, "n_reps"] == 1 and table.loc[2, "t_tg"] == pytest.approx(1.4)  # sentinel rows apart
    sentinel = drift(runs).set_index("metric")
    s_tg = 2 * 128 / np.array([1.4, 1.47, 1.4, 1.33])
    assert sentinel.loc["s_tg", "n"] == 4
    assert sentinel.loc["s_tg", "spread"] == pytest.approx((s_tg.max() - s_tg.min()) / np.median(s_tg))
    # two models compared: the ratios beyond the drift are counted
    other = make_runs([{**r, "model": "m2", "t_tg": r["t_tg"] * f}
                       for r, f in zip(rows[:3], (1.02, 1.5, 1.03), strict=True)])
    both = pd.concat([runs, other], ignore_index=True)
    summary = comparison_tables(both, {"model": "m"})["compare_summary"].set_index("metric")
    assert summary.loc["t_tg", "drift"] == pytest.approx(sentinel.loc["s_tg", "spread"])
    assert summary.loc["t_tg", "beyond_drift"] == 1  # 1.5 is beyond a 10% drift, 1.02 and 1.03 are not


def test_the_verdicts_counts_are_tables():
    """The counts the report's Q2-Q5 verdicts state, on the seed's table."""
    tables = derive(seed_runs(), None)
    prompt = tables["prompt_verdict"].iloc[0]
    assert prompt["fits"] == 3 and prompt["linear_fits"] == 3 and not prompt["flat"]
    verdict = tables["scaling_verdict"].iloc[0]
    assert verdict["series"] == 6 and verdict["starts_sub_linear"] == 6
    trends = tables["context_trends"].set_index(["metric", "axis"])
    assert trends.loc[("s", "pp"), ["falls", "rises", "groups"]].tolist() == [1, 5, 6]
    assert trends.loc[("s_tg", "pp"), ["falls", "rises", "groups"]].tolist() == [4, 2, 6]
    check = tables["whole_run_check"].iloc[0]
    assert check["max_t_gap_s"] == pytest.approx(0.001, abs=1e-4) and check["max_s_gap_share"] < 0.001
    # nothing with two values of B: the verdict says so with zero series
    one = derive(make_runs([{"pp": 8, "tg": 8, "b": 1, "t_pp": 1, "t_tg": 1}]), None)
    assert one["scaling_verdict"].iloc[0]["series"] == 0
