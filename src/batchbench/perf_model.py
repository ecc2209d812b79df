"""A decode performance model fitted to the grid: why S_TG rises with B, then flattens.

A decode step of B sequences streams the weights from memory once for all of them (the memory
term), does each sequence's arithmetic (the compute term) and reads every KV cell filled so far
(the attention term):

    t_step(B, cells) = max(t_mem, B · t_seq) + cells · t_cell

The CPU computes while it streams, so the slower of the first two sets the step; where B · t_seq
overtakes t_mem, at B* = t_mem / t_seq, the step turns linear in B and S_TG = B / t_step
flattens at 1 / t_seq. The coefficients are fitted in time units (so an imported log, whose model
is unknown, is fitted too) with a robust least squares on the valid rows; where the model's shape
is known they are also given as rates: weight bytes / t_mem (effective bandwidth), FLOPs per
token / t_seq (effective FLOP/s), KV bytes per cell / t_cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .analysis.combinations import SERIES, Thresholds
from .analysis.hardware import kv_bytes_per_cell, limits_of
from .analysis.questions import saturation_point
from .models import ModelShape
from .synth import estimated_decode_bytes, spec_from_config

KEYS = [*SERIES, "host_name"]
MIN_R2 = 0.90          # below this the model does not explain the series: no predictions
MAX_LOO_ERROR = 0.25   # nor when leaving a B out mispredicts its S_TG by more than this (median)
NOISE = 0.05           # relative residual where the robust loss turns linear (5%: run-to-run drift)

MODEL_COLUMNS = KEYS + [
    "n_rows", "b_values", "memory_ms", "compute_ms_per_seq", "attention_us_per_cell", "crossover_b",
    "predicted_saturation_b", "measured_saturation_b", "r2", "median_error_pct", "loo_error_pct",
    "fits", "weight_bytes", "flops_per_token", "kv_bytes_per_cell", "bandwidth_gb_s", "flops_g",
    "kv_bandwidth_gb_s", "bandwidth_limit_gb_s", "bandwidth_pct", "step_ms_b1", "note"]
FIT_COLUMNS = KEYS + ["pp", "tg", "b", "cells", "step_ms", "model_step_ms", "error_pct", "regime", "s_tg",
                      "model_s_tg"]
VALIDATION_COLUMNS = KEYS + ["left_out_b", "n_rows", "median_error_pct", "max_error_pct", "crossover_b"]
PREDICTION_COLUMNS = KEYS + ["shape", "pp", "tg", "b", "tpot_ms", "s_tg", "regime", "crossover_b", "predicted",
                             "basis"]
ROOFLINE_COLUMNS = KEYS + ["pp", "tg", "b", "phase", "flop", "bytes", "intensity", "gflops", "bandwidth_limit_gb_s",
                           "flops_limit_g", "valid"]


def step_data(table: pd.DataFrame) -> pd.DataFrame:
    """Per combination: tokens per decode step, KV cells read per step (averaged over the TG
    steps, the cache growing by one per sequence) and the measured step time."""
    separate = table["tg_separate"].fillna(False).astype(bool)
    shared = table["pp_shared"].fillna(False).astype(bool) & table["kv_unified"].fillna(False).astype(bool)
    tokens = table["b"].where(~separate, 1).astype(float)  # with -tgs each step decodes one sequence
    cells = np.where(shared, table["pp"] + table["b"] * (table["tg"] - 1) / 2,
                     tokens * (table["pp"] + (table["tg"] - 1) / 2))
    steps = table["tg"] * table["b"].where(separate, 1)
    return table.assign(tokens=tokens, cells=cells.astype(float), step_s=table["t_tg"] / steps)


def step_time(params: np.ndarray, tokens: np.ndarray, cells: np.ndarray) -> np.ndarray:
    t_mem, crossover, t_cell = params
    return np.maximum(t_mem, tokens * t_mem / crossover) + cells * t_cell


def fit(tokens: np.ndarray, cells: np.ndarray, step_s: np.ndarray) -> dict:
    """Robust least squares (soft L1 on relative residuals) of the step model, from several
    starting crossovers; t_cell is held at 0 when the cells read grow only with B (one context)."""
    tokens, cells, step_s = (np.asarray(a, float) for a in (tokens, cells, step_s))
    attention = np.unique(np.round(cells / tokens, 6)).size > 1

    def residuals(p):
        params = (np.exp(p[0]), np.exp(p[1]), p[2] * 1e-6 if attention else 0.0)
        return step_time(params, tokens, cells) / step_s - 1

    best = None
    for start in (0.5, 1, 2, 4, 8, 16, 64, 256):
        x0 = [np.log(step_s.min()), np.log(start), 0.0]
        result = least_squares(residuals, x0, loss="soft_l1", f_scale=NOISE,
                               bounds=([-30, np.log(0.05), 0.0], [10, np.log(1e5), np.inf]))
        if best is None or result.cost < best.cost:
            best = result
    t_mem, crossover = np.exp(best.x[0]), np.exp(best.x[1])
    return {"t_mem": t_mem, "crossover": crossover, "t_seq": t_mem / crossover,
            "t_cell": best.x[2] * 1e-6 if attention else 0.0, "attention": attention}


def predict(coef: dict, tokens, cells) -> np.ndarray:
    return step_time((coef["t_mem"], coef["crossover"], coef["t_cell"]), np.asarray(tokens, float),
                     np.asarray(cells, float))


def r_squared(measured: np.ndarray, model: np.ndarray) -> float:
    total = ((measured - measured.mean()) ** 2).sum()
    return float(1 - ((measured - model) ** 2).sum() / total) if total > 0 else np.nan


def rule_saturation(data: pd.DataFrame, column: str, share: float) -> float:
    """The saturation rule of the analysis (smallest B whose doubling gains less than `share`),
    per PP and TG; the median over the groups where it is reached."""
    points = [saturation_point(group.groupby("b")[column].first(), share)[0]
              for _, group in data.groupby(["pp", "tg"])[["b", column]]]
    points = [p for p in points if np.isfinite(p)]
    return float(np.median(points)) if points else np.nan


def leave_one_b_out(data: pd.DataFrame) -> list[dict]:
    """Each B left out in turn: fitted on the others, its S_TG predicted; relative errors."""
    rows = []
    for b in sorted(data["b"].unique()):
        rest, held = data[data["b"] != b], data[data["b"] == b]
        if rest["b"].nunique() < 2 or len(rest) < 3:
            continue
        coef = fit(rest["tokens"], rest["cells"], rest["step_s"])
        model_s_tg = held["tokens"] / predict(coef, held["tokens"], held["cells"])
        error = (model_s_tg / (held["tokens"] / held["step_s"]) - 1).abs()
        rows.append({"left_out_b": int(b), "n_rows": len(held), "median_error_pct": 100 * error.median(),
                     "max_error_pct": 100 * error.max(), "crossover_b": coef["crossover"]})
    return rows


def shape_rates(first: pd.Series) -> dict:
    """Weight bytes a decode step reads, FLOPs per token and KV bytes per cell, where known."""
    known = pd.notna(first.get("model_decode_bytes")) and pd.notna(first.get("model_n_layer"))
    if not known:
        return {"weight_bytes": np.nan, "flops_per_token": np.nan, "kv_bytes_per_cell": np.nan}
    return {"weight_bytes": float(first["model_decode_bytes"]),
            "flops_per_token": 2.0 * (float(first["model_block_params"]) + float(first["model_output_params"])),
            "kv_bytes_per_cell": float(kv_bytes_per_cell(first))}


def fit_series(table: pd.DataFrame, limits: dict | list[dict] | None,
               thresholds: Thresholds) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per series (model × build × machine × options × host): the fitted model, each row against it, and
    the leave-one-B-out validation. Only valid rows (status ok, not flagged) are fitted."""
    models, fits, checks = [], [], []
    usable = table[table["valid"].astype(bool) & (table["tg"] > 0) & (table["t_tg"] > 0)]
    usable = step_data(usable)
    for key, data in usable.groupby(KEYS, dropna=False, sort=True):
        keys = dict(zip(KEYS, key, strict=True))
        row = {**keys, "n_rows": len(data), "b_values": ", ".join(str(int(b)) for b in sorted(data["b"].unique()))}
        if data["b"].nunique() < 3:
            models.append({**row, "fits": False, "note": f"{data['b'].nunique()} value(s) of B among the valid "
                           "rows: at least 3 are needed to fit the model"})
            continue
        coef = fit(data["tokens"], data["cells"], data["step_s"])
        model_step = predict(coef, data["tokens"], data["cells"])
        error = model_step / data["step_s"] - 1
        validation = leave_one_b_out(data)
        checks += [{**keys, **v} for v in validation]
        loo = max((v["median_error_pct"] for v in validation), default=np.nan)
        r2 = r_squared(np.log(data["step_s"].to_numpy()), np.log(model_step))  # relative, as fitted
        fitted = data.assign(model_s_tg=data["tokens"] / model_step)
        rates = shape_rates(data.iloc[0])
        own = limits_of(limits, keys["machine"])  # the series' machine's limits, measured on its host
        limit = own.get("bandwidth_gb_s") if own.get("host_name") == keys["host_name"] else None
        bandwidth = rates["weight_bytes"] / coef["t_mem"] / 1e9
        problems = []
        if not r2 >= MIN_R2:
            problems.append(f"R² {r2:.2f} < {MIN_R2}")
        if not loo <= 100 * MAX_LOO_ERROR:
            problems.append(f"leaving a B out mispredicts its S_TG by {loo:.0f}% (median) > {MAX_LOO_ERROR:.0%}"
                            if np.isfinite(loo) else "no B could be left out to validate it")
        b1 = data[data["b"] == 1]
        models.append({
            **row, "memory_ms": coef["t_mem"] * 1e3, "compute_ms_per_seq": coef["t_seq"] * 1e3,
            "attention_us_per_cell": coef["t_cell"] * 1e6, "crossover_b": coef["crossover"],
            "predicted_saturation_b": rule_saturation(fitted, "model_s_tg", thresholds.saturation_share),
            "measured_saturation_b": rule_saturation(fitted, "s_tg", thresholds.saturation_share),
            "r2": r2, "median_error_pct": 100 * float(np.median(np.abs(error))), "loo_error_pct": loo,
            "fits": not problems, **rates, "bandwidth_gb_s": bandwidth,
            "flops_g": rates["flops_per_token"] / coef["t_seq"] / 1e9,
            "kv_bandwidth_gb_s": (rates["kv_bytes_per_cell"] / coef["t_cell"] / 1e9
                                  if coef["t_cell"] > 1e-12 else np.nan),  # no attention term: no rate
            "bandwidth_limit_gb_s": limit or np.nan, "bandwidth_pct": 100 * bandwidth / limit if limit else np.nan,
            "step_ms_b1": 1e3 * float(b1["step_s"].median()) if len(b1) else np.nan,
            "note": ("; ".join(problems) + ": not used for predictions") if problems else
            ("" if coef["attention"] else "one context length: the attention term is not separated (held at 0)")})
        fits.append(pd.DataFrame({
            **{k: [v] * len(data) for k, v in keys.items()}, "pp": data["pp"], "tg": data["tg"], "b": data["b"],
            "cells": data["cells"], "step_ms": 1e3 * data["step_s"], "model_step_ms": 1e3 * model_step,
            "error_pct": 100 * error, "regime": np.where(data["tokens"] < coef["crossover"], "memory", "compute"),
            "s_tg": data["s_tg"], "model_s_tg": fitted["model_s_tg"]}))
    fitted = {tuple(str(m[k]) for k in KEYS) for m in models}  # str: a missing host (NaN) matches itself
    for key, group in table.groupby(KEYS, dropna=False, sort=True):  # series with no valid row at all
        if tuple(str(k) for k in key) not in fitted:
            models.append({**dict(zip(KEYS, key, strict=True)), "n_rows": 0, "b_values": "", "fits": False,
                           "note": f"no valid row among its {len(group)} combinations (all flagged): nothing to fit"})
    fit_table = pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(columns=FIT_COLUMNS)
    return (pd.DataFrame(models, columns=MODEL_COLUMNS), fit_table[FIT_COLUMNS],
            pd.DataFrame(checks, columns=VALIDATION_COLUMNS))


def between_powers(largest: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, … up to `largest`."""
    values, power = set(), 1
    while power <= largest:
        values |= {power, 3 * power // 2} if power > 1 else {1}
        power *= 2
    return sorted(v for v in values if v <= largest)


def shape_of(entry: dict, where: str) -> tuple[str, ModelShape, str]:
    spec = spec_from_config(entry, where)
    name = f"{entry.get('preset') or spec.shape.arch} {spec.quant}"
    return name, spec.shape, spec.quant


def predictions(model: pd.DataFrame, table: pd.DataFrame, shapes: list[dict] | None = None) -> pd.DataFrame:
    """From each series whose model fits: S_TG and TPOT for B and prompt lengths not measured
    (B up to twice the largest measured, prompts up to 4 × the largest), and for other model
    shapes on the same machine (the series' bandwidth, FLOP/s and KV rate applied to the other
    shape's bytes and FLOPs). Every row is a prediction; measured combinations are left out."""
    rows = []
    for entry in model[model["fits"].astype(bool)].itertuples(index=False):
        keys = {k: getattr(entry, k) for k in KEYS}
        measured = table[np.logical_and.reduce([
            (table[k] == v) if pd.notna(v) else table[k].isna() for k, v in keys.items()])]
        first = measured.iloc[0]
        pps = sorted(set(measured["pp"]) | {2 * measured["pp"].max(), 4 * measured["pp"].max()})
        tgs = sorted(set(measured["tg"]))
        bs = between_powers(2 * int(measured["b"].max()))
        done = set(zip(measured["pp"], measured["tg"], measured["b"], strict=True))
        coef = {"t_mem": entry.memory_ms / 1e3, "crossover": entry.crossover_b,
                "t_cell": entry.attention_us_per_cell / 1e6}
        variants = [(str(entry.model), coef, "fitted on this series", done)]
        for spec in shapes or []:
            name, shape, quant = shape_of(spec, "analysis.predict")
            if not np.isfinite(entry.weight_bytes):
                continue  # this series' model shape is unknown: its rates cannot be transferred
            cell_bytes = kv_bytes_per_cell(pd.Series({"cache_type_k": first.get("cache_type_k"),
                                                      "cache_type_v": first.get("cache_type_v"),
                                                      "model_n_layer": shape.n_layer,
                                                      "model_n_head_kv": shape.n_head_kv,
                                                      "model_head_dim": shape.head_dim}))
            t_mem = estimated_decode_bytes(shape, quant) / (entry.bandwidth_gb_s * 1e9)
            t_seq = 2 * shape.n_params_matmul / (entry.flops_g * 1e9)
            t_cell = cell_bytes / (entry.kv_bandwidth_gb_s * 1e9) if np.isfinite(entry.kv_bandwidth_gb_s) else 0.0
            other = {"t_mem": t_mem, "crossover": t_mem / t_seq, "t_cell": t_cell}
            variants.append((name, other, f"{entry.model}'s rates applied to the {name} shape (bytes estimated)",
                             set()))
        for shape_name, c, basis, measured_here in variants:
            grid = [(pp, tg, b) for pp in pps for tg in tgs for b in bs if (pp, tg, b) not in measured_here]
            if not grid:
                continue
            frame = pd.DataFrame(grid, columns=["pp", "tg", "b"]).assign(
                tg_separate=False, pp_shared=bool(first.get("pp_shared")), kv_unified=bool(first.get("kv_unified")),
                t_tg=np.nan)
            frame = step_data(frame)
            step = predict(c, frame["tokens"], frame["cells"])
            rows.append(frame[["pp", "tg", "b"]].assign(
                **keys, shape=shape_name, tpot_ms=1e3 * step, s_tg=frame["tokens"] / step,
                regime=np.where(frame["tokens"] < c["crossover"], "memory", "compute"), crossover_b=c["crossover"],
                predicted=True, basis=basis))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=PREDICTION_COLUMNS)
    return out[PREDICTION_COLUMNS]


def roofline(table: pd.DataFrame, limits: dict | list[dict] | None) -> pd.DataFrame:
    """Each combination's prompt phase and decode phase as a roofline point: FLOPs done (the
    weights' 2 FLOPs per parameter per token; attention left out) per byte moved (prompt: the
    weights once per micro-batch of -ub tokens, plus the KV cells written; decode: the weights once
    per step plus the KV cells read) and the FLOP/s achieved. Rows whose model shape is unknown
    (imported) have no point."""
    known = table[table["model_decode_bytes"].notna() & table["model_n_layer"].notna()]
    if known.empty:
        return pd.DataFrame(columns=ROOFLINE_COLUMNS)
    data = step_data(known)
    weights = data["model_decode_bytes"].astype(float)
    cell_bytes = np.array([kv_bytes_per_cell(r) for r in data.itertuples()], dtype=float)
    block, output = data["model_block_params"].astype(float), data["model_output_params"].astype(float)
    shared = data["pp_shared"].fillna(False).astype(bool)
    prompt_tokens = data["pp"].where(shared, data["b"] * data["pp"]).astype(float)
    sequences = data["b"].where(~shared, 1).astype(float)
    ubatches = np.ceil(prompt_tokens / data["ubatch"].fillna(512).astype(float))
    steps = data["t_tg"] / data["step_s"]
    phases = {
        "prompt": (2 * (block * prompt_tokens + output * sequences), weights * ubatches + prompt_tokens * cell_bytes,
                   data["t_pp"]),
        "decode": (2 * (block + output) * data["tokens"] * steps, (weights + data["cells"] * cell_bytes) * steps,
                   data["t_tg"]),
    }
    # each row against its own machine's limits, where they were measured on its host
    own = [limits_of(limits, m) for m in data["machine"]]
    same_host = data["host_name"].notna() & (data["host_name"] == pd.Series([e.get("host_name") for e in own],
                                                                             index=data.index))
    parts = []
    for phase, (flop, moved, seconds) in phases.items():
        parts.append(data[KEYS + ["pp", "tg", "b", "valid"]].assign(
            phase=phase, flop=flop, bytes=moved, intensity=flop / moved, gflops=flop / seconds / 1e9,
            bandwidth_limit_gb_s=np.where(same_host, [e.get("bandwidth_gb_s", np.nan) for e in own], np.nan),
            flops_limit_g=np.where(same_host, [e.get("flops_g", np.nan) for e in own], np.nan)))
    out = pd.concat(parts, ignore_index=True)
    return out[(out["pp"] > 0) | (out["phase"] == "decode")][ROOFLINE_COLUMNS].reset_index(drop=True)


def tables(table: pd.DataFrame, limits: dict | list[dict] | None, thresholds: Thresholds,
           shapes: list[dict] | None = None) -> dict[str, pd.DataFrame]:
    model, fit_rows, validation = fit_series(table, limits, thresholds)
    return {"perf_model": model, "perf_model_fit": fit_rows, "perf_model_validation": validation,
            "perf_predictions": predictions(model, table, shapes), "roofline": roofline(table, limits)}
