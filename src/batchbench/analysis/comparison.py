"""Experiments, builds, models and machines against each other: the ratio of every metric per
matching combination, their summary per pair, and which machine is ahead where."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .combinations import (
    COMBINATION,
    DEFAULT_THRESHOLDS,
    SERIES,
    Thresholds,
    combinations,
    with_all_columns,
)
from .hardware import hardware_efficiency
from .quality import drift, trusted

COMPARED = ["s_pp", "s_tg", "s", "t_pp", "t_tg", "t"]

COMPARE_COLUMNS = ["axis", "baseline", "other", "model", "build", "machine", "config", *COMBINATION, "metric",
                   "base", "value", "ratio", "beyond_noise"]


def comparison_pairs(table: pd.DataFrame, baselines: dict[str, str]) -> list[tuple[str, str, str]]:
    """(axis, baseline, other) for every axis that varies: experiments (runs), builds, models. The
    baseline is the one named, else the first; builds, models and machines are compared within a run."""
    pairs = []
    for axis in ("experiment", "build", "model", "machine"):
        values = sorted(v for v in table[axis].unique() if v != "")
        if len(values) < 2:
            continue
        baseline = baselines.get(axis) if baselines.get(axis) in values else values[0]
        for other in values:
            sides = [set(table.loc[table[axis] == v, "experiment"]) for v in (baseline, other)]
            if other != baseline and (axis == "experiment" or sides[0] & sides[1]):
                pairs.append((axis, baseline, other))
    return pairs


def compare(table: pd.DataFrame, axis: str, baseline: str, other: str) -> tuple[pd.DataFrame, str]:
    """Per combination matched on everything the two sides share: each metric of `other` divided
    by the baseline's; with 3 or more repetitions on both sides, whether the difference is beyond
    the noise (their min–max ranges do not overlap). Returns the ratios and, when nothing
    matched, why."""
    base, them = table[table[axis] == baseline], table[table[axis] == other]
    shared = [c for c in ("experiment", "model", "build", "machine")
              if c != axis and set(base[c]) & set(them[c])]
    keys = shared + ["config", *COMBINATION]
    if base.duplicated(keys).any() or them.duplicated(keys).any():
        return pd.DataFrame(columns=COMPARE_COLUMNS), (
            "several models or builds on a side are named differently on the other, so combinations "
            "cannot be paired (give them the same names)")
    merged = base.merge(them, on=keys, suffixes=("_base", "_other"))
    if merged.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS), "no combination in common"
    repeated = (merged["n_reps_base"] >= 3) & (merged["n_reps_other"] >= 3)
    parts = []
    for metric in COMPARED:
        part = merged[keys].copy()
        for column in ("model", "build", "machine"):
            if column not in part:  # not shared: say both
                part[column] = merged[f"{column}_base"].astype(str) + " / " + merged[f"{column}_other"].astype(str)
        base_value, value = merged[f"{metric}_base"].astype(float), merged[f"{metric}_other"].astype(float)
        apart = ((merged[f"{metric}_max_base"] < merged[f"{metric}_min_other"])
                 | (merged[f"{metric}_max_other"] < merged[f"{metric}_min_base"]))
        part = part.assign(axis=axis, baseline=baseline, other=other, metric=metric, base=base_value, value=value,
                           ratio=(value / base_value.where(base_value != 0)),
                           beyond_noise=apart.where(repeated, None).astype(object))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[COMPARE_COLUMNS], ""


def same_run(table: pd.DataFrame, axis: str, baseline: str, other: str) -> bool:
    """Whether two sides were measured in one interleaved run: their time spans overlap."""
    spans = []
    for value in (baseline, other):
        times = pd.to_datetime(table.loc[table[axis] == value, "start_time"]).dropna()
        if times.empty:
            return False
        spans.append((times.min(), times.max()))
    return spans[0][0] <= spans[1][1] and spans[1][0] <= spans[0][1]


def compare_summary(table: pd.DataFrame, ratios: pd.DataFrame, pairs: list[tuple[str, str, str]],
                    notes: dict[tuple[str, str, str], str], floor: dict[str, float] | None = None) -> pd.DataFrame:
    """Per compared pair and metric: the geometric mean of the ratios, their range, how many
    combinations matched and how many differ beyond the noise, and whether both sides come from
    one run; a pair that matched nothing gets one row saying why."""
    columns = ["axis", "baseline", "other", "metric", "matched", "geomean_ratio", "min_ratio", "max_ratio",
               "beyond_noise", "judged", "same_run", "drift", "beyond_drift", "note"]
    floor = floor or {}
    rows = []
    for axis, baseline, other in pairs:
        one_run = same_run(table, axis, baseline, other)
        pair = ratios[(ratios["axis"] == axis) & (ratios["baseline"] == baseline) & (ratios["other"] == other)]
        if pair.empty:
            rows.append({"axis": axis, "baseline": baseline, "other": other, "metric": "", "matched": 0,
                         "same_run": one_run, "note": notes.get((axis, baseline, other), "")})
            continue
        for metric, group in pair.groupby("metric", sort=False):
            ratio = pd.to_numeric(group["ratio"], errors="coerce")  # object dtype after an empty concat
            valid = ratio[(ratio > 0) & np.isfinite(ratio)]
            judged = group["beyond_noise"].dropna()
            rows.append({"axis": axis, "baseline": baseline, "other": other, "metric": metric,
                         "matched": len(group),
                         "geomean_ratio": float(np.exp(np.log(valid).mean())) if len(valid) else np.nan,
                         "min_ratio": valid.min() if len(valid) else np.nan,
                         "max_ratio": valid.max() if len(valid) else np.nan,
                         "beyond_noise": int(judged.astype(bool).sum()) if len(judged) else None,
                         "judged": len(judged), "same_run": one_run,
                         # the sentinel's drift as the noise floor: ratios further from 1 than it
                         "drift": floor.get(metric, np.nan),
                         "beyond_drift": int(((valid - 1).abs() > floor[metric]).sum()) if metric in floor else None,
                         "note": "" if len(valid) == len(group) else
                         f"{len(group) - len(valid)} ratio(s) undefined (a zero or missing value)"})
    return pd.DataFrame(rows, columns=columns)


def comparison_tables(runs: pd.DataFrame, baselines: dict[str, str],
                      thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, pd.DataFrame]:
    """Every pair of experiments, builds or models: the ratios per combination and their summary
    (disturbed and outlier combinations left out: they would read as differences)."""
    table = trusted(combinations(runs, thresholds))
    pairs = comparison_pairs(table, baselines)
    compared = {pair: compare(table, *pair) for pair in pairs}
    ratios = pd.concat([r for r, _ in compared.values()] or [pd.DataFrame(columns=COMPARE_COLUMNS)],
                       ignore_index=True)
    notes = {pair: note for pair, (_, note) in compared.items()}
    # the largest spread of the drift sentinel per metric, for S; T metrics drift as 1/S
    sentinel = drift(runs).groupby("metric")["spread"].max().to_dict()
    floor = {**sentinel, **{f"t{m[1:]}": v for m, v in sentinel.items()}}
    return {"compare": ratios, "compare_summary": compare_summary(table, ratios, pairs, notes, floor)}


def machine_comparison(runs: pd.DataFrame, limits: dict | list[dict] | None,
                       thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Per machine and combination: the speeds, and the bandwidth and FLOP/s achieved, each also
    as a share of that machine's own measured limits."""
    runs = with_all_columns(runs)
    table = combinations(runs, thresholds)
    hardware = hardware_efficiency(table, limits)
    keep = ["bandwidth_gb_s", "bandwidth_limit_gb_s", "bandwidth_pct", "flops_g", "flops_limit_g", "flops_pct"]
    speeds = ["n_reps", "s_pp", "s_tg", "s_tg_min", "s_tg_max", "s", "valid"]
    out = pd.concat([table[SERIES + COMBINATION + speeds], hardware[keep]], axis=1)
    return out[out["machine"] != ""].reset_index(drop=True)


VERBS = {"s_tg": ("decodes", "decode"), "s_pp": ("processes prompts", "process prompts")}


def machine_verdict(ratios: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Which machine is ahead where, one sentence per machine compared with the first: for decoding
    (S_TG) and prompt processing (S_PP) the geometric mean ratio, the B where the gap is largest,
    and whether the gap is beyond the noise of the repetitions."""
    sentences = []
    machines = summary[(summary["axis"] == "machine") & (summary["matched"] > 0)]
    for (baseline, other), pair in machines.groupby(["baseline", "other"], sort=False):
        parts = []
        for metric, (verb, verb_plural) in VERBS.items():
            row = pair[pair["metric"] == metric]
            if row.empty or pd.isna(row["geomean_ratio"].iloc[0]):
                continue
            row = row.iloc[0]
            mean = float(row["geomean_ratio"])
            ahead, behind, factor = (other, baseline, mean) if mean >= 1 else (baseline, other, 1 / mean)
            points = ratios[(ratios["axis"] == "machine") & (ratios["baseline"] == baseline)
                            & (ratios["other"] == other) & (ratios["metric"] == metric)]
            values = pd.to_numeric(points["ratio"], errors="coerce")
            by_b = np.exp(np.log(values[values > 0]).groupby(points["b"]).mean())
            where = ""
            if len(by_b) > 1:
                b = (np.log(by_b) * (1 if mean >= 1 else -1)).idxmax()
                where = f", most at B = {b} ({max(by_b[b], 1 / by_b[b]):.2f}x)"
            over = f"geometric mean over {int(row['matched'])} combinations{where}"
            if row["judged"] and not row["beyond_noise"]:  # a ratio is no lead when the noise covers it
                parts.append(f"{other} and {baseline} {verb_plural} alike within the noise in every "
                             f"combination (ratio {mean:.2f}, {over})")
                continue
            noise = (f"beyond the noise in {int(row['beyond_noise'])} of {int(row['judged'])} combinations"
                     if row["judged"] else "noise not judged (fewer than 3 repetitions)")
            parts.append(f"{ahead} {verb} {factor:.2f}x faster than {behind} ({over}; {noise})")
        if parts:
            sentences.append("; ".join(parts) + ".")
    return sentences
