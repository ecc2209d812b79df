"""The counts behind the report's verdicts, as tables (so every number the report prints is in a
CSV too): whether T_PP is linear in the prompt and S_PP flat (Q2, Q3), the seed's expected pattern
of T_TG (Q4), which way S and S_TG move with PP and TG
(Q5), and whether T = T_PP + T_TG and S = N_KV / T hold row by row (Q5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .combinations import DEFAULT_THRESHOLDS, SERIES, Thresholds

LINEAR_R2 = 0.95  # a line of T_PP against the prompt tokens fitting this well shows linear growth


def prompt_verdict(prompt: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Q2, Q3 over the prompt_phase fits: how many lines were fitted and how many fit with R² of
    LINEAR_R2 or more, the range of their slopes; the range of S_PP's coefficient of variation and
    whether it stays within the max_cv threshold everywhere (flat)."""
    fitted = prompt[prompt["slope_ms_per_token"].notna()]
    cv = prompt["s_pp_cv"].dropna()
    return pd.DataFrame([{
        "fits": len(fitted), "linear_fits": int((fitted["r2"] >= LINEAR_R2).sum()), "min_r2": LINEAR_R2,
        "slope_min_ms_per_token": fitted["slope_ms_per_token"].min(),
        "slope_max_ms_per_token": fitted["slope_ms_per_token"].max(),
        "s_pp_cv_min": cv.min() if len(cv) else np.nan, "s_pp_cv_max": cv.max() if len(cv) else np.nan,
        "max_cv": thresholds.max_cv, "flat": bool(len(cv)) and bool(cv.max() <= thresholds.max_cv)}])


def scaling_verdict(scaling: pd.DataFrame, saturation: pd.DataFrame) -> pd.DataFrame:
    """The expected pattern of T_TG (sub-linear in B at first, linear once the machine saturates),
    counted: the series with two values of B or more, those whose T_TG grew sub-linearly at the
    first doubling of B, the doublings beyond the saturation point of S_TG and those of them
    where T_TG grew linearly or faster; whether the counts agree with the pattern."""
    columns = ["series", "starts_sub_linear", "doublings_beyond_saturation", "linear_beyond_saturation", "agrees"]
    keys = SERIES + ["pp", "tg"]
    steps = scaling[scaling["regime"] != ""].sort_values("b")
    if steps.empty:
        return pd.DataFrame([{"series": 0, "starts_sub_linear": 0, "doublings_beyond_saturation": 0,
                              "linear_beyond_saturation": 0, "agrees": False}], columns=columns)
    first = steps.groupby(keys, dropna=False)["regime"].first()
    starts_sub = int((first == "sub-linear").sum())
    points = saturation[(saturation["metric"] == "s_tg") & saturation["saturation_b"].notna()]
    beyond = steps.merge(points[keys + ["saturation_b"]], on=keys)
    beyond = beyond[beyond["b"] > beyond["saturation_b"]]
    linear = int(beyond["regime"].isin(["linear", "super-linear"]).sum())
    return pd.DataFrame([{"series": len(first), "starts_sub_linear": starts_sub,
                          "doublings_beyond_saturation": len(beyond), "linear_beyond_saturation": linear,
                          "agrees": starts_sub == len(first) and linear == len(beyond)}], columns=columns)


# (metric, axis): S and S_TG against PP (B and TG held) and against TG (B and PP held)
TRENDS = [("s", "pp"), ("s", "tg"), ("s_tg", "pp"), ("s_tg", "tg")]


def context_trends(effects: pd.DataFrame) -> pd.DataFrame:
    """Per metric and axis, in how many groups (the other two of PP, TG, B fixed) the metric falls,
    rises, from the smallest to the largest value of the axis; of how many groups with two values
    or more."""
    rows = []
    for metric, axis in TRENDS:
        held = ["b", "tg"] if axis == "pp" else ["b", "pp"]
        groups = effects.sort_values(axis, kind="stable").groupby(SERIES + held, dropna=False)
        several = groups[axis].nunique() >= 2
        # the metric at the smallest and the largest value of the axis
        smallest, largest = groups[metric].first(skipna=False), groups[metric].last(skipna=False)
        rows.append({"metric": metric, "axis": axis, "held": " and ".join(h.upper() for h in held),
                     "falls": int((several & (largest < smallest)).sum()),
                     "rises": int((several & (largest > smallest)).sum()), "groups": int(several.sum())})
    return pd.DataFrame(rows, columns=["metric", "axis", "held", "falls", "rises", "groups"])


def whole_run_check(runs: pd.DataFrame) -> pd.DataFrame:
    """Over every row with a result, as printed (medians of separate metrics need not add up): the
    largest |T - T_PP - T_TG| in seconds and, without -pps, the largest relative difference between
    N_KV / T and the printed S."""
    rows = runs[runs["status"] == "ok"]
    gap = (rows["t"] - rows["t_pp"] - rows["t_tg"]).abs().max()
    plain = rows[~rows["pp_shared"].astype(bool) & (rows["s"] > 0)]
    s_gap = ((plain["n_kv"] / plain["t"] - plain["s"]).abs() / plain["s"]).max() if len(plain) else np.nan
    return pd.DataFrame([{"rows": len(rows), "max_t_gap_s": gap, "rows_without_pps": len(plain),
                          "max_s_gap_share": s_gap}])
