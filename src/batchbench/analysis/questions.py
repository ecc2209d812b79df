"""The seed's questions, one table each: N_KV (Q1), the prompt phase (Q2, Q3), generation
scaling and saturation (Q4), and the effects of the context (Q4, Q5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..kv_cache import cells_needed
from .combinations import COMBINATION, DEFAULT_THRESHOLDS, SERIES, Thresholds, prompt_tokens


def expected_n_kv(row) -> tuple[int, str]:
    shared, unified = bool(row.pp_shared), bool(row.kv_unified)
    formula = "PP + B·TG" if shared and unified else "(PP+TG)·B"
    return cells_needed(int(row.pp), int(row.tg), int(row.b), shared, unified), formula


def n_kv_check(table: pd.DataFrame) -> pd.DataFrame:
    """Q1: N_KV as printed against the cells the combination fills; a mismatch says which
    formula the printed value does match, if any."""
    out = table[SERIES + COMBINATION + ["n_kv", "pp_shared", "kv_unified"]].copy()
    out["n_kv"] = out["n_kv"].round().astype("Int64")
    expected, formula, matches = [], [], []
    for row in out.itertuples():
        value, name = expected_n_kv(row)
        expected.append(value)
        formula.append(name)
        candidates = {"(PP+TG)·B": cells_needed(row.pp, row.tg, row.b),
                      "PP + B·TG": cells_needed(row.pp, row.tg, row.b, pp_shared=True, kv_unified=True)}
        printed = row.n_kv if pd.notna(row.n_kv) else None
        matches.append(", ".join(k for k, v in candidates.items() if v == printed) or "neither")
    out["expected_n_kv"] = expected
    out["formula"] = formula
    out["matches"] = matches
    out["mismatch"] = (out["n_kv"] != out["expected_n_kv"]).fillna(True).astype(bool)
    return out


def fit_line(x: np.ndarray, y: np.ndarray) -> dict:
    """Least squares y = slope·x + intercept, with R²; NaN and a note where it cannot be fitted."""
    if len(np.unique(x)) < 2:
        return {"slope": np.nan, "intercept": np.nan, "r2": np.nan,
                "note": f"{len(np.unique(x))} distinct prompt size(s): no line to fit"}
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1 - (residual ** 2).sum() / total if total > 0 else np.nan
    return {"slope": slope, "intercept": intercept, "r2": r2, "note": ""}


def prompt_phase(table: pd.DataFrame) -> pd.DataFrame:
    """Q2, Q3: per series and B, T_PP against prompt tokens (slope in ms per token, intercept in
    ms, R²) and the spread of S_PP (coefficient of variation across prompt sizes)."""
    data = table[table["pp"] > 0].assign(tokens=prompt_tokens)
    rows = []
    for key, group in data.groupby(SERIES + ["b"], dropna=False, sort=True):
        fit = fit_line(group["tokens"].to_numpy(float), group["t_pp"].to_numpy(float) * 1000)
        s_pp = group["s_pp"].to_numpy(float)
        rows.append({**dict(zip(SERIES + ["b"], key, strict=False)), "n_points": len(group),
                     "slope_ms_per_token": fit["slope"], "intercept_ms": fit["intercept"],
                     "r2": fit["r2"], "s_pp_mean": s_pp.mean(),
                     "s_pp_cv": s_pp.std(ddof=1) / s_pp.mean() if len(s_pp) > 1 and s_pp.mean() else np.nan,
                     "note": fit["note"]})
    return pd.DataFrame(rows, columns=SERIES + ["b", "n_points", "slope_ms_per_token", "intercept_ms",
                                                "r2", "s_pp_mean", "s_pp_cv", "note"])


def regime(step_growth: float, tolerance: float) -> str:
    """How T_TG grew from the previous B, against growing in proportion to B."""
    if pd.isna(step_growth):
        return ""
    if step_growth < 1 - tolerance:
        return "sub-linear"
    return "super-linear" if step_growth > 1 + tolerance else "linear"


def generation_scaling(table: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Q4: per series, PP and TG, each B against B = 1: T_TG ratio beside the ideal B, S_TG ratio,
    parallel efficiency; and how T_TG grew from the previous B (sub-linear, linear, super-linear)."""
    keys = SERIES + ["pp", "tg"]
    columns = keys + ["b", "t_tg", "s_tg", "s", "ideal_ratio", "t_tg_ratio", "s_tg_ratio", "efficiency",
                      "step_growth", "regime", "valid", "note"]
    out = table[keys + ["b", "t_tg", "s_tg", "s", "valid"]].sort_values(keys + ["b"], kind="stable")
    # 64-bit integers in the table whatever runs.parquet stored (its int32 would change the schema)
    out = out.reset_index(drop=True).astype({"pp": "int64", "tg": "int64", "b": "int64"})
    groups = out.assign(_base=out["b"].eq(1), _t1=out["t_tg"].where(out["b"].eq(1)),
                        _s1=out["s_tg"].where(out["b"].eq(1))).groupby(keys, dropna=False, sort=False)
    has_base = groups["_base"].transform("any").astype(bool)
    # the B = 1 row's (a series has one row per B)
    t1, s1 = groups["_t1"].transform("first"), groups["_s1"].transform("first")
    previous_t, previous_b = groups["t_tg"].shift(1), groups["b"].shift(1)
    out["ideal_ratio"] = out["b"].astype(float)
    out["t_tg_ratio"] = out["t_tg"] / t1
    out["s_tg_ratio"] = out["s_tg"] / s1
    out["efficiency"] = out["s_tg"] / (out["b"] * s1)
    # growth of the step time from the previous B over growth in proportion to B
    out["step_growth"] = ((out["t_tg"] / previous_t) / (out["b"] / previous_b)).where(previous_t > 0)
    out["regime"] = [regime(step, thresholds.saturation_share) for step in out["step_growth"]]
    out["note"] = np.where(has_base, "", "no B = 1 row: no baseline for the ratios")
    return out[columns]


def saturation_point(by_b: pd.Series, share: float) -> tuple[float, str]:
    """The smallest B whose doubling raises the metric by less than `share`, and every later
    doubling too: a dip followed by renewed growth is not saturation."""
    values = by_b.dropna()
    pairs = sorted((b, values[2 * b] / values[b] - 1) for b in values.index if 2 * b in values.index)
    if not pairs:
        return np.nan, "no B measured together with its double"
    point = None
    for b, gain in reversed(pairs):
        if gain >= share:
            break
        point = (b, gain)
    if point is None:
        b, gain = pairs[-1]
        return np.nan, f"not reached up to B = {2 * b}, the largest measured: doubling B = {b} still gains {gain:+.0%}"
    return float(point[0]), f"doubling B = {point[0]} gains {point[1]:+.0%}, and no later doubling {share:.0%} or more"


def saturation(table: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Q4, Q5: per series, PP and TG, the saturation point of S_TG and of S."""
    rows = []
    for key, group in table.groupby(SERIES + ["pp", "tg"], dropna=False, sort=True)[["b", "s_tg", "s"]]:
        for metric in ("s_tg", "s"):
            b, why = saturation_point(pd.Series(group[metric].to_numpy(), index=group["b"].to_numpy()),
                                      thresholds.saturation_share)
            rows.append({**dict(zip(SERIES + ["pp", "tg"], key, strict=False)), "metric": metric,
                         "saturation_b": b, "share": thresholds.saturation_share, "why": why})
    return pd.DataFrame(rows, columns=SERIES + ["pp", "tg", "metric", "saturation_b", "share", "why"])


def context_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Q4, Q5: S_TG and S against PP at fixed B and TG, and against TG at fixed B and PP, each
    relative to the smallest PP (TG) of its group."""
    out = table[SERIES + COMBINATION + ["s_tg", "s"]].copy()
    for metric in ("s_tg", "s"):
        smallest_pp = out.sort_values("pp").groupby(SERIES + ["b", "tg"], dropna=False)[metric].transform("first")
        smallest_tg = out.sort_values("tg").groupby(SERIES + ["b", "pp"], dropna=False)[metric].transform("first")
        out[f"{metric}_vs_smallest_pp"] = out[metric] / smallest_pp
        out[f"{metric}_vs_smallest_tg"] = out[metric] / smallest_tg
    return out.sort_values(SERIES + ["b", "tg", "pp"]).reset_index(drop=True)
