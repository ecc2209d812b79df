"""The decode performance model: it recovers what it was generated from, explains the seed's
table, validates itself honestly and refuses to predict where it does not fit."""

import numpy as np
import pandas as pd
import pytest
from test_analysis import make_runs, seed_runs

from batchbench import perf_model
from batchbench.analysis.combinations import Thresholds, combinations
from batchbench.synth import PRESETS, estimated_decode_bytes
from batchbench.tables import derive

T_MEM, CROSSOVER, T_CELL = 0.020, 6.0, 2e-6  # 20 ms per step, B* = 6, 2 µs per KV cell


def generated(noise: float = 0.03, outlier: bool = True, seed: int = 1, **shape) -> pd.DataFrame:
    """runs.parquet rows whose T_TG follows the model, with lognormal noise and one row disturbed
    to twice its time (a neighbour's job): the robust loss must not follow it."""
    rng = np.random.default_rng(seed)
    rows = []
    for pp in (128, 512):
        for tg in (64, 256):
            for b in (1, 2, 4, 8, 16, 32):
                cells = b * (pp + (tg - 1) / 2)
                step = max(T_MEM, b * T_MEM / CROSSOVER) + cells * T_CELL
                rows.append({"pp": pp, "tg": tg, "b": b, "t_pp": 0.001 * pp * b,
                             "t_tg": tg * step * float(np.exp(rng.normal(0, noise)))})
    if outlier:
        rows[5]["t_tg"] *= 2
    return make_runs(rows, **shape)


def model_of(runs, limits=None):
    tables = derive(runs, limits)
    return tables["perf_model"].iloc[0], tables


def test_recovers_the_coefficients_it_was_generated_from():
    model, _ = model_of(generated())
    assert model["memory_ms"] == pytest.approx(T_MEM * 1e3, rel=0.05)
    assert model["crossover_b"] == pytest.approx(CROSSOVER, rel=0.10)
    assert model["compute_ms_per_seq"] == pytest.approx(T_MEM / CROSSOVER * 1e3, rel=0.10)
    assert model["attention_us_per_cell"] == pytest.approx(T_CELL * 1e6, rel=0.15)
    assert model["r2"] > 0.95 and model["fits"]
    assert model["b_values"] == "1, 2, 4, 8, 16, 32"


def test_rows_flagged_disturbed_or_outlier_are_not_fitted():
    """Interference flags (a job disturbed at every attempt, an outlier across B) clear `valid`,
    and the model fits only valid rows."""
    runs = generated(disturbed=False, disturbed_reason="")
    at = runs.index[(runs["pp"] == 512) & (runs["tg"] == 256) & (runs["b"] == 4)]
    runs.loc[at, "disturbed"] = True
    runs.loc[at, "disturbed_reason"] = "the benchmark got 1.1 of its 2 threads' CPU time"
    tables = derive(runs, None)
    table = tables["combinations"].set_index(["pp", "tg", "b"])
    assert table.loc[(512, 256, 4), "disturbed"] and table.loc[(128, 64, 32), "outlier"]  # the planted row
    assert list(table.index[~table["valid"]]) == [(128, 64, 32), (512, 256, 4)]
    fitted = set(tables["perf_model_fit"][["pp", "tg", "b"]].itertuples(index=False, name=None))
    assert len(fitted) == 22 and not fitted & {(128, 64, 32), (512, 256, 4)}
    assert tables["perf_model"].iloc[0]["n_rows"] == 22


def test_a_plain_least_squares_would_follow_the_outlier():
    """The check above can fail: the disturbed row pulls an unweighted fit of the same model."""
    runs = generated(noise=0.0)
    data = perf_model.step_data(derive(runs, None)["combinations"])
    loss = perf_model.least_squares  # the same optimiser, plain squared loss
    result = loss(lambda p: perf_model.step_time((np.exp(p[0]), np.exp(p[1]), p[2] * 1e-6),
                                                 data["tokens"], data["cells"]) / data["step_s"] - 1,
                  [np.log(0.02), np.log(6), 2.0])
    plain = np.exp(result.x[0])
    robust = perf_model.fit(data["tokens"], data["cells"], data["step_s"])["t_mem"]
    assert abs(robust / T_MEM - 1) < 0.01 < abs(plain / T_MEM - 1)


def test_rates_with_units_where_the_shape_is_known():
    shape = {"model_info": {"decode_bytes": 200_000_000, "block_params": 80_000_000, "output_params": 20_000_000,
                            "n_layer": 4, "n_head_kv": 4, "head_dim": 64}, "host_name": "h"}
    limits = {"host_name": "h", "bandwidth_gb_s": 20.0, "flops_g": 100.0}
    model, _ = model_of(generated(**shape), limits)
    # 200 MB in 20 ms: 10 GB/s, half the measured 20 GB/s; 2 × 100 M FLOPs in 20/6 ms: 60 GFLOP/s
    assert model["bandwidth_gb_s"] == pytest.approx(10.0, rel=0.05)
    assert model["bandwidth_pct"] == pytest.approx(50.0, rel=0.05)
    assert model["flops_g"] == pytest.approx(60.0, rel=0.10)
    # 4 layers × 4 heads × 64 × (2 + 2 bytes) = 4096 bytes per cell in 2 µs: 2 GB/s
    assert model["kv_bandwidth_gb_s"] == pytest.approx(2.05, rel=0.15)


def test_on_the_seeds_table_saturation_lies_between_2_and_8_and_each_b_is_predicted():
    model, tables = model_of(seed_runs())
    assert len(tables["perf_model"]) == 1  # one series, one row
    assert 2 <= model["crossover_b"] <= 8
    assert 2 <= model["predicted_saturation_b"] <= 8
    assert model["measured_saturation_b"] == 4
    validation = tables["perf_model_validation"]
    assert list(validation["left_out_b"]) == [1, 2, 4, 8]
    # stated in the README: each left-out B's S_TG within 20% (median over its rows)
    assert (validation["median_error_pct"] < 20).all()
    assert model["fits"] and model["r2"] > 0.9


def test_where_the_model_does_not_fit_it_says_so_and_predicts_nothing():
    # S_TG falling steeply with B: no max(memory, compute) + attention explains it
    rows = [{"pp": 128, "tg": 64, "b": b, "t_pp": 0.1 * b, "t_tg": 64 * 0.01 * b ** 2.5} for b in (1, 2, 4, 8, 16)]
    model, tables = model_of(make_runs(rows))
    assert not model["fits"] and "not used for predictions" in model["note"]
    assert tables["perf_predictions"].empty


def test_a_series_with_every_row_flagged_says_so():
    table = combinations(generated(outlier=False))
    table["valid"] = False
    model, _, _ = perf_model.fit_series(table, None, Thresholds())
    assert len(model) == 1 and not model.iloc[0]["fits"] and "no valid row" in model.iloc[0]["note"]


def test_too_few_b_values_are_not_fitted():
    rows = [{"pp": 128, "tg": 64, "b": b, "t_pp": 0.1 * b, "t_tg": 1.0 + b} for b in (1, 2)]
    model, tables = model_of(make_runs(rows))
    assert not model["fits"] and "at least 3 are needed" in model["note"]
    assert tables["perf_model_fit"].empty and tables["perf_predictions"].empty


def test_flagged_rows_are_not_fitted():
    runs = generated(outlier=False)
    table = combinations(runs)
    table.loc[table["b"] == 32, "valid"] = False
    model, _, _ = perf_model.fit_series(table, None, Thresholds())
    assert model.iloc[0]["b_values"] == "1, 2, 4, 8, 16"


def test_predictions_are_marked_and_never_a_measured_combination():
    model, tables = model_of(generated())
    predicted = tables["perf_predictions"]
    assert predicted["predicted"].all() and len(predicted)
    measured = tables["combinations"]
    measured = set(zip(measured["pp"], measured["tg"], measured["b"], strict=True))
    assert not measured & set(zip(predicted["pp"], predicted["tg"], predicted["b"], strict=True))
    assert predicted["b"].max() == 64 and predicted["pp"].max() == 4 * 512
    row = predicted[(predicted["pp"] == 2048) & (predicted["tg"] == 64) & (predicted["b"] == 64)].iloc[0]
    step = max(T_MEM, 64 * T_MEM / CROSSOVER) + 64 * (2048 + 31.5) * T_CELL
    assert row["tpot_ms"] == pytest.approx(step * 1e3, rel=0.1)
    assert row["s_tg"] == pytest.approx(64 / step, rel=0.1) and row["regime"] == "compute"


def test_another_shape_on_the_same_machine():
    shape = {"model_info": {"decode_bytes": 200_000_000, "block_params": 80_000_000, "output_params": 20_000_000,
                            "n_layer": 4, "n_head_kv": 4, "head_dim": 64}}
    tables = derive(generated(**shape), None, predict=[{"preset": "qwen3-8b", "quant": "Q4_K_M"}])
    other = tables["perf_predictions"]
    other = other[other["shape"] == "qwen3-8b Q4_K_M"]
    assert len(other) and other["predicted"].all()
    b1 = other[(other["b"] == 1) & (other["pp"] == 128) & (other["tg"] == 64)].iloc[0]
    weights = estimated_decode_bytes(PRESETS["qwen3-8b"], "Q4_K_M")
    assert 4.0e9 < weights < 4.8e9  # Qwen3-8B in Q4_K: about 4.4 GB read per step
    assert b1["tpot_ms"] >= weights / 10e9 * 1e3  # at most the fitted 10 GB/s
