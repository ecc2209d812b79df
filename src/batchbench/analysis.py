"""The derived tables that answer the seed's questions, from runs.parquet.

Every function takes a DataFrame and returns one, so each step is tested on fixed input. Thin data
never raises: what cannot be computed is NaN with a `note` saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .kv_cache import CACHE_TYPE_BYTES, cells_needed

METRICS = ["n_kv", "t_pp", "s_pp", "t_tg", "s_tg", "t", "s"]
COMBINATION = ["pp", "tg", "b"]
SERIES = ["experiment", "model", "build", "machine", "config"]
# Options that make two rows different measurements; those that vary form the `config` label.
OPTIONS = ["batch", "ubatch", "threads", "threads_batch", "n_gpu_layers", "flash_attn",
           "cache_type_k", "cache_type_v", "pp_shared", "kv_unified", "tg_separate", "extra_args"]
# Carried from the rows into the per-combination table (the same for every repetition).
CARRIED = ["host_name", "host_cpu", "imported", "source_file", "pp_shared", "kv_unified", "n_gpu_layers",
           "tg_separate", "cache_type_k", "cache_type_v", "model_params", "model_bytes",
           "model_block_params", "model_output_params", "model_decode_bytes", "model_n_layer",
           "model_n_head_kv", "model_head_dim", "start_time", "inconsistent", "ubatch"]
BOOTSTRAP_FROM = 5  # 3 values have only 10 distinct resamples
BOOTSTRAP_RESAMPLES = 2000
WARMUP_TOKENS = 16  # batched-bench's one warm-up decode per process


@dataclass(frozen=True)
class Thresholds:
    min_time_s: float = 0.05       # a T_PP or T_TG shorter than this is not trusted
    max_cv: float = 0.10           # repetitions spreading more than this are flagged
    saturation_share: float = 0.10  # a doubling of B that gains less than this saturates
    outlier_factor: float = 1.4    # a point this many times off its neighbours' fit is an outlier


DEFAULT_THRESHOLDS = Thresholds()


def with_config_label(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds `config`: the options that vary within the table, as `name=value` pairs."""
    runs = runs.copy()
    varying = [c for c in OPTIONS if c in runs and runs[c].astype(str).nunique(dropna=False) > 1]
    if varying:
        runs["config"] = runs[varying].astype(str).apply(
            lambda row: " ".join(f"{k}={v}" for k, v in row.items()), axis=1)
    else:
        runs["config"] = ""
    return runs


def bootstrap_median_interval(values: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The 95% percentile interval of the median, for each row of `values` (groups × repetitions),
    from the same BOOTSTRAP_RESAMPLES resamplings; in slices, to bound memory."""
    picks = rng.integers(0, values.shape[1], size=(BOOTSTRAP_RESAMPLES, values.shape[1]))
    low, high = np.empty(len(values)), np.empty(len(values))
    for start in range(0, len(values), 256):
        medians = np.median(values[start:start + 256][:, picks], axis=2)
        low[start:start + 256], high[start:start + 256] = np.percentile(medians, [2.5, 97.5], axis=1)
    return low, high


def combinations(runs: pd.DataFrame, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """One row per measured combination: the median of its repetitions (and, from 3 on, min, max
    and coefficient of variation; from 5 on a bootstrap 95% interval), with validity flags."""
    ok = with_config_label(grid_rows(with_machine(runs))[lambda r: r["status"] == "ok"])
    carried = [c for c in CARRIED if c in ok]
    groups = ok.groupby(SERIES + COMBINATION, dropna=False, sort=True)
    table = groups.size().rename("n_reps").reset_index()
    metrics = ok[METRICS].astype(float).groupby([ok[k] for k in SERIES + COMBINATION], dropna=False, sort=True)
    first = groups[carried].first().reset_index(drop=True) if carried else None
    count = metrics.count().to_numpy()
    enough = count >= 3
    stats = {"": metrics.median(), "_min": metrics.min(), "_max": metrics.max()}
    mean, std = metrics.mean().to_numpy(), metrics.std(ddof=1).to_numpy()
    for suffix, frame in stats.items():
        values = frame.to_numpy()
        for j, metric in enumerate(METRICS):
            table[f"{metric}{suffix}"] = values[:, j] if not suffix else np.where(enough[:, j], values[:, j], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(enough & (mean != 0), std / mean, np.nan)
    for j, metric in enumerate(METRICS):
        table[f"{metric}_cv"] = cv[:, j]
    add_bootstrap(table, ok, count)
    table = table[_combination_columns([])]
    if first is not None:
        table = pd.concat([table, first], axis=1)
    flags = [validity_flags(row, thresholds) for row in table.itertuples()]
    disturbed = disturbed_flags(ok, table)
    table["disturbed"] = disturbed.astype(bool).to_numpy()
    table["outlier"] = outliers(table, thresholds.outlier_factor)
    for f, why, off in zip(flags, disturbed, table["outlier"], strict=True):
        f += [why] if why else []
        f += [off] if off else []
    table["outlier"] = table["outlier"].astype(bool)
    table["flags"] = ["; ".join(f) for f in flags]
    table["valid"] = [not f for f in flags]
    return table


def with_machine(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows with every series column; `machine` "" for rows of no configured machine: one
    value that groups, merges and compares like the others (a missing column: collected before
    machines existed)."""
    runs = runs.reindex(columns=[*runs.columns, *(c for c in SERIES if c not in runs and c != "config")])
    return runs.assign(machine=runs["machine"].astype(object).where(runs["machine"].notna(), ""))


def grid_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The grid's rows, without the drift sentinel's re-measurements (see `drift`)."""
    return runs[runs["sentinel"].isna()] if "sentinel" in runs else runs


DRIFT_METRICS = ("s_pp", "s_tg", "s")


def drift(runs: pd.DataFrame) -> pd.DataFrame:
    """The drift sentinel: one combination measured again every N jobs (run.sentinel_every).
    Per metric, its spread over the run, (max - min) / median: the run's measured drift, the
    noise floor of comparisons. Disturbed measurements are left out (they are not drift)."""
    columns = SERIES + COMBINATION + ["metric", "n", "median", "min", "max", "spread", "cv", "first", "last"]
    if "sentinel" not in runs:
        return pd.DataFrame(columns=columns)
    rows = with_config_label(with_machine(runs))
    rows = rows[rows["sentinel"].notna() & (rows["status"] == "ok") & ~rows["disturbed"].eq(True)]
    out = []
    for key, group in rows.groupby(SERIES + COMBINATION, dropna=False, sort=True):
        for metric in DRIFT_METRICS:
            values = group[metric].astype(float).dropna()
            if values.empty:
                continue
            median = values.median()
            out.append({**dict(zip(SERIES + COMBINATION, key, strict=True)), "metric": metric, "n": len(values),
                        "median": median, "min": values.min(), "max": values.max(),
                        "spread": (values.max() - values.min()) / median if median else np.nan,
                        "cv": values.std(ddof=1) / values.mean() if len(values) > 1 and values.mean() else np.nan,
                        "first": group["start_time"].min(), "last": group["start_time"].max()})
    return pd.DataFrame(out, columns=columns)


def disturbed_flags(ok: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Per combination, why its measurement was disturbed ('' when none of its repetitions was):
    the job measured it again and every attempt was disturbed."""
    if "disturbed" not in ok or ok.empty:
        return pd.Series([""] * len(table), dtype=object)
    marked = ok.assign(_d=ok["disturbed"].eq(True),
                       _why=ok["disturbed_reason"].map(lambda v: v if isinstance(v, str) else ""))
    groups = marked.groupby(SERIES + COMBINATION, dropna=False, sort=True)
    count, first = groups["_d"].sum(), groups.apply(lambda g: next(iter(g.loc[g["_d"], "_why"]), ""),
                                                    include_groups=False)
    reps = groups.size()
    return pd.Series([f"disturbed ({int(n)} of {int(r)} repetitions): {why}" if n else ""
                      for n, r, why in zip(count, reps, first, strict=True)], dtype=object)


# run-wide counters of the benchmark's surroundings, and how the report names them
COUNTERS = {"cpu_share": "the benchmark's CPU share", "involuntary_switches": "involuntary context switches",
            "major_faults": "major page faults", "cpu_pressure_some": "CPU pressure (PSI)",
            "memory_pressure_some": "memory pressure (PSI)", "cpu_steal": "CPU steal"}
QUALITY_COLUMNS = ["jobs_with_result", "imported", "watched", "disturbed_first", "remeasured", "still_disturbed",
                   "cpu_share_min", "cpu_share_p10", "cpu_share_median", "cpu_share_max",
                   "cpu_pressure_median", "cpu_pressure_max", "counters_missing",
                   "combinations", "outliers", "disturbed_combinations", "left_out", "trusted"]


def measurement_quality(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row for the run: jobs with a result, those whose surroundings were recorded
    (`watched`), disturbed at their first attempt, measured again, still disturbed; the
    distribution of CPU share and CPU pressure of the reported measurements; the counters this
    machine lacks; the combinations the verdicts leave out (disturbed or outliers)."""
    ok = runs[runs["status"] == "ok"]
    measured = ok[~ok["imported"].fillna(False).astype(bool)]
    watched = measured[measured["disturbed"].notna()] if "disturbed" in measured else measured.iloc[:0]

    def first_disturbed(m) -> bool:
        return bool(json.loads(m)[0].get("disturbed")) if isinstance(m, str) and m else False

    share = watched["cpu_share"].dropna().astype(float) if "cpu_share" in watched else pd.Series(dtype=float)
    pressure = (watched["cpu_pressure_some"].dropna().astype(float) if "cpu_pressure_some" in watched
                else pd.Series(dtype=float))
    q = share.quantile([0, 0.1, 0.5, 1]).to_numpy() if len(share) else [np.nan] * 4
    flagged = (table["disturbed"] | table["outlier"]) if len(table) else pd.Series(dtype=bool)
    return pd.DataFrame([{
        "jobs_with_result": len(ok), "imported": len(ok) - len(measured), "watched": len(watched),
        "disturbed_first": int(watched["measurements"].map(first_disturbed).sum()) if len(watched) else 0,
        "remeasured": int((watched["remeasured"].fillna(0) > 0).sum()) if len(watched) else 0,
        "still_disturbed": int(watched["disturbed"].astype(bool).sum()) if len(watched) else 0,
        "cpu_share_min": q[0], "cpu_share_p10": q[1], "cpu_share_median": q[2], "cpu_share_max": q[3],
        "cpu_pressure_median": pressure.median() if len(pressure) else np.nan,
        "cpu_pressure_max": pressure.max() if len(pressure) else np.nan,
        "counters_missing": ", ".join(name for column, name in COUNTERS.items()
                                      if len(watched) and (column not in watched or watched[column].isna().all())),
        "combinations": len(table), "outliers": int(table["outlier"].sum()) if len(table) else 0,
        "disturbed_combinations": int(table["disturbed"].sum()) if len(table) else 0,
        "left_out": int(flagged.sum()), "trusted": int(len(table) - flagged.sum()),
    }], columns=QUALITY_COLUMNS)


def trusted(table: pd.DataFrame) -> pd.DataFrame:
    """The combinations the verdicts use: neither disturbed nor an outlier of their series."""
    return table[~(table["disturbed"] | table["outlier"])]


OUTLIER_MIN_POINTS = 5  # with fewer B values in a series, which point is off cannot be told
OUTLIER_ENDS_FROM = 6   # an end point is extrapolated: only judged in longer series


def outlier_points(log_b: np.ndarray, log_y: np.ndarray, factor: float, slower: int = 1) -> dict[int, float]:
    """{index: measured / predicted} of the points far off a fit of their neighbours.

    Worst first: the point whose removal leaves the others best explained by a quadratic (a line
    for few points) in log B is an outlier when it is more than `factor` times off that fit,
    several times more than any other point is, while the others fit within half the tolerance;
    then the rest is judged again. Per-step decode time and S_PP change smoothly with B on clean
    data (the fixtures' published logs and the seed's table are within 1.14 of such fits).
    Only points on the slow side of the fit are candidates (`slower`: +1 where a larger value is
    slower, -1 where smaller is): interference slows a job down, and a point faster than a fit
    bent by a slowed neighbour is not the one that was disturbed."""
    tolerance = np.log(factor)
    keep, found = list(range(len(log_b))), {}
    while len(keep) >= OUTLIER_MIN_POINTS:
        best = None
        for i in keep:
            if i in (keep[0], keep[-1]) and len(keep) < OUTLIER_ENDS_FROM:
                continue
            others = [j for j in keep if j != i]
            coef = np.polyfit(log_b[others], log_y[others], 1 if len(others) <= 3 else 2)
            misfit = np.abs(log_y[others] - np.polyval(coef, log_b[others])).max()
            off = log_y[i] - np.polyval(coef, log_b[i])
            if off * slower > 0 and (best is None or misfit < best[1]):
                best = (i, misfit, off)
        if best is None:
            break
        i, misfit, off = best
        if not (abs(off) > tolerance and abs(off) > 3 * misfit and misfit < tolerance / 2):
            break
        found[i] = float(np.exp(off))
        keep.remove(i)
    return found


def outliers(table: pd.DataFrame, factor: float) -> pd.Series:
    """Per combination, why it is an outlier of its series (model, build, options, PP, TG)
    across B ('' when it is not): its per-step decode time T_TG/TG or its S_PP."""
    reasons = pd.Series("", index=table.index, dtype=object)
    metrics = (("step", "T_TG/TG", lambda g: g["t_tg"] / g["tg"], 1000, "ms", 1),
               ("s_pp", "S_PP", lambda g: g["s_pp"], 1, "t/s", -1))
    for _, group in table.groupby(SERIES + ["pp", "tg"], dropna=False, sort=False):
        group = group.sort_values("b")
        for _name, label, value, scale, unit, slower in metrics:
            y = value(group).astype(float)
            usable = (y > 0) & np.isfinite(y) & (group["b"] > 0)
            if usable.sum() < OUTLIER_MIN_POINTS:
                continue
            g, y = group[usable], y[usable]
            for i, ratio in outlier_points(np.log2(g["b"].to_numpy(float)), np.log(y.to_numpy()), factor,
                                             slower).items():
                index = g.index[i]
                note = (f"outlier: {label} {y.iloc[i] * scale:.4g} {unit} at B={g['b'].iloc[i]} is {ratio:.2f}x "
                        f"what its series' other B values predict")
                reasons[index] = f"{reasons[index]}; {note}" if reasons[index] else note
    return reasons


def add_bootstrap(table: pd.DataFrame, ok: pd.DataFrame, count: np.ndarray) -> None:
    """`*_ci_low`, `*_ci_high` for the combinations with BOOTSTRAP_FROM or more repetitions
    (grouped by how many, so each size is resampled as one array)."""
    rng = np.random.default_rng(0)
    group_id = ok.groupby(SERIES + COMBINATION, dropna=False, sort=True).ngroup().to_numpy()
    position = ok.groupby(SERIES + COMBINATION, dropna=False, sort=True).cumcount().to_numpy()
    width = int(position.max()) + 1 if len(ok) else 0
    for j, metric in enumerate(METRICS):
        values = np.full((len(table), width), np.nan)
        values[group_id, position] = ok[metric].astype(float).to_numpy()
        low, high = np.full(len(table), np.nan), np.full(len(table), np.nan)
        complete = count[:, j] == table["n_reps"].to_numpy()  # no missing value among the repetitions
        for n in sorted(set(count[:, j][complete & (count[:, j] >= BOOTSTRAP_FROM)])):
            rows = np.flatnonzero(complete & (count[:, j] == n))
            low[rows], high[rows] = bootstrap_median_interval(values[rows, :n], rng)
        table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] = low, high


def _combination_columns(carried: list[str]) -> list[str]:
    """The per-combination table's columns, in order (and so also when it is empty)."""
    stats = [f"{m}_{s}" for m in METRICS for s in ("min", "max", "cv", "ci_low", "ci_high")]
    return SERIES + COMBINATION + ["n_reps"] + METRICS + stats + carried


def validity_flags(row, thresholds: Thresholds) -> list[str]:
    flags = []
    inconsistent = getattr(row, "inconsistent", None)
    if isinstance(inconsistent, str) and inconsistent:  # an imported row that disagrees with itself
        flags.append(f"inconsistent as printed: {inconsistent}")
    limit_ms = thresholds.min_time_s * 1000
    for metric, name in (("t_pp", "T_PP"), ("t_tg", "T_TG")):
        value = getattr(row, metric)
        timed = row.pp > 0 if metric == "t_pp" else row.tg > 0  # PP = 0: no prompt to time
        if timed and pd.notna(value) and value < thresholds.min_time_s:
            flags.append(f"{name} {value * 1000:.1f} ms < {limit_ms:g} ms")
        cv = getattr(row, f"{metric}_cv")
        if pd.notna(cv) and cv > thresholds.max_cv:
            flags.append(f"{name} CV {cv:.0%} > {thresholds.max_cv:.0%}")
    return flags


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


def prompt_tokens(table: pd.DataFrame) -> pd.Series:
    return table["pp"].where(table["pp_shared"].astype(bool), table["b"] * table["pp"])


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
    rows = []
    for key, group in table.groupby(SERIES + ["pp", "tg"], dropna=False, sort=True):
        group = group.sort_values("b")
        base = group[group["b"] == 1]
        t1 = base["t_tg"].iloc[0] if len(base) else np.nan
        s1 = base["s_tg"].iloc[0] if len(base) else np.nan
        previous = None
        for row in group.itertuples():
            step = np.nan
            if previous is not None and previous.t_tg > 0:
                step = (row.t_tg / previous.t_tg) / (row.b / previous.b)
            rows.append({**dict(zip(SERIES + ["pp", "tg"], key, strict=False)), "b": row.b, "t_tg": row.t_tg,
                         "s_tg": row.s_tg, "s": row.s, "ideal_ratio": float(row.b),
                         "t_tg_ratio": row.t_tg / t1, "s_tg_ratio": row.s_tg / s1,
                         "efficiency": row.s_tg / (row.b * s1),
                         "step_growth": step, "regime": regime(step, thresholds.saturation_share),
                         "valid": row.valid,
                         "note": "" if len(base) else "no B = 1 row: no baseline for the ratios"})
            previous = row
    return pd.DataFrame(rows, columns=SERIES + ["pp", "tg", "b", "t_tg", "s_tg", "s", "ideal_ratio",
                                                "t_tg_ratio", "s_tg_ratio", "efficiency", "step_growth",
                                                "regime", "valid", "note"])


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
    for key, group in table.groupby(SERIES + ["pp", "tg"], dropna=False, sort=True):
        for metric in ("s_tg", "s"):
            b, why = saturation_point(group.set_index("b")[metric], thresholds.saturation_share)
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


def pareto_front(throughput: pd.Series, latency: pd.Series) -> pd.Series:
    """Whether each point is on the frontier: no other point is as fast with less latency."""
    on = []
    for i in throughput.index:
        if not (np.isfinite(throughput[i]) and np.isfinite(latency[i])):
            on.append(False)
            continue
        dominated = ((throughput >= throughput[i]) & (latency <= latency[i])
                     & ((throughput > throughput[i]) | (latency < latency[i])))
        on.append(not dominated.any())
    return pd.Series(on, index=throughput.index)


def latency(table: pd.DataFrame) -> pd.DataFrame:
    """Per combination: time to first token (the B prompts, then one decode step, the mean step
    standing in for the first), time per output token, end-to-end latency, and whether it is on
    the series' throughput–latency frontier (S_TG against TPOT)."""
    out = table[SERIES + COMBINATION + ["t_pp", "t_tg", "t", "s_tg", "valid"]].copy()
    step = out["t_tg"] / out["tg"]
    out["ttft_s"] = out["t_pp"] + step
    out["tpot_ms"] = step * 1000
    out["e2e_s"] = out["t"]
    out["pareto"] = False
    for _, group in out.groupby(SERIES, dropna=False):
        out.loc[group.index, "pareto"] = pareto_front(group["s_tg"], group["tpot_ms"])
    return out


def perf_reconciliation(runs: pd.DataFrame) -> pd.DataFrame:
    """An imported log's llama_perf_context_print counters against its table. llama.cpp files
    every decode of more than one token under "prompt eval" and only single-token decodes under
    "eval": so prompt eval = every prompt + every generation step with B ≥ 2 + the warm-up, and
    eval = the generation of the B = 1 rows."""
    rows = []
    logged = runs[runs["source_perf"].notna() & (runs["status"] == "ok")]
    for (source, perf_json), group in logged.groupby(["source_file", "source_perf"], sort=True):
        perf = json.loads(perf_json)
        prompts = int(prompt_tokens(group).sum())
        multi = group[group["b"] >= 2]
        single = group[group["b"] == 1]
        table_prompt_ms = (group["t_pp"].sum() + multi["t_tg"].sum()) * 1000
        table_prompt_tokens = prompts + int((multi["b"] * multi["tg"]).sum()) + WARMUP_TOKENS
        counters = [("prompt eval", "prompt_eval", table_prompt_ms, table_prompt_tokens,
                     f"ΣT_PP ({group['t_pp'].sum():.1f} s, {prompts} tokens) + ΣT_TG of the "
                     f"B ≥ 2 rows ({multi['t_tg'].sum():.1f} s, {int((multi['b'] * multi['tg']).sum())} "
                     f"tokens) + the {WARMUP_TOKENS}-token warm-up"),
                    ("eval", "eval", single["t_tg"].sum() * 1000, int(single["tg"].sum()),
                     f"ΣT_TG of the {len(single)} B = 1 rows ({single['t_tg'].sum():.1f} s)")]
        for name, key, table_ms, table_count, explained in counters:
            if f"{key}_ms" not in perf:
                continue
            logged_ms = perf[f"{key}_ms"]
            rows.append({"source_file": source, "counter": name, "logged_ms": logged_ms,
                         "logged_count": perf.get(f"{key}_count"), "table_ms": table_ms,
                         "table_count": table_count, "difference_ms": logged_ms - table_ms,
                         "difference_share": (logged_ms - table_ms) / logged_ms if logged_ms else np.nan,
                         "explained_by": explained})
    return pd.DataFrame(rows, columns=["source_file", "counter", "logged_ms", "logged_count", "table_ms",
                                       "table_count", "difference_ms", "difference_share", "explained_by"])


def kv_bytes_per_cell(row) -> float:
    """K and V of every layer, for one cell, in the cache types the job used (f16 by default)."""
    per_element = (CACHE_TYPE_BYTES.get(row.cache_type_k or "f16", 2.0)
                   + CACHE_TYPE_BYTES.get(row.cache_type_v or "f16", 2.0))
    return row.model_n_layer * row.model_n_head_kv * row.model_head_dim * per_element


def limits_list(limits: dict | list[dict] | None) -> list[dict]:
    """The measured limits as a list: one entry per machine (a single dict: one machine)."""
    if not limits:
        return []
    return [limits] if isinstance(limits, dict) else list(limits)


def limits_of(limits: dict | list[dict] | None, machine: str) -> dict:
    """One machine's measured limits ({} when not measured); `machine` "" without `machines`."""
    return next((e for e in limits_list(limits) if (e.get("machine") or "") == machine), {})


def hardware_efficiency(table: pd.DataFrame, limits: dict | list[dict] | None) -> pd.DataFrame:
    """How close to the machine: memory bandwidth achieved in generation (the weights a decode
    step reads, once per step, plus the KV cache filled so far) and FLOP/s achieved in prompt
    processing (2 × block parameters × prompt tokens, plus the output layer for the one token per
    sequence that needs logits; attention left out), against the limits measured on the same host."""
    out = table[SERIES + COMBINATION + ["t_pp", "t_tg", "valid", "host_name"]].copy()
    steps = table["tg"] * table["b"].where(table["tg_separate"].astype(bool), 1)
    # cells read per decode step, averaged over the TG steps (the cache grows by one per sequence)
    # (with -tgs each step decodes one sequence, reading only its own cells)
    separate = table["tg_separate"].astype(bool)
    mean_cells = np.where(table["pp_shared"].astype(bool) & table["kv_unified"].astype(bool),
                          table["pp"] + table["b"] * (table["tg"] - 1) / 2,
                          table["b"].where(~separate, 1) * (table["pp"] + (table["tg"] - 1) / 2))
    cell_bytes = [kv_bytes_per_cell(r) if pd.notna(r.model_n_layer) else np.nan
                  for r in table.itertuples()]
    read_per_step = table["model_decode_bytes"].astype(float) + mean_cells * np.asarray(cell_bytes, dtype=float)
    out["bytes_per_step"] = read_per_step
    out["bandwidth_gb_s"] = read_per_step * steps / table["t_tg"] / 1e9
    prompts = table["b"].where(~table["pp_shared"].astype(bool), 1)  # a shared prompt is computed once
    flop = 2 * (table["model_block_params"].astype(float) * prompt_tokens(table)
                + table["model_output_params"].astype(float) * prompts)
    out["flops_g"] = flop / table["t_pp"] / 1e9
    # the limits are the CPU's and its memory's: a run offloaded to a GPU is not compared with them
    offloaded = table["n_gpu_layers"].fillna(0).astype(float) > 0 if "n_gpu_layers" in table else False
    # each row against its own machine's limits (one set without `machines`)
    own = [limits_of(limits, m) for m in out["machine"]]
    own_host = pd.Series([entry.get("host_name") for entry in own], index=out.index)
    same_host = out["host_name"].notna() & (out["host_name"] == own_host) & ~offloaded
    out["bandwidth_limit_gb_s"] = np.where(same_host, [e.get("bandwidth_gb_s") or np.nan for e in own], np.nan)
    out["flops_limit_g"] = np.where(same_host, [e.get("flops_g") or np.nan for e in own], np.nan)
    out["bandwidth_pct"] = 100 * out["bandwidth_gb_s"] / out["bandwidth_limit_gb_s"]
    out["flops_pct"] = 100 * out["flops_g"] / out["flops_limit_g"]
    out["note"] = np.where(out["bandwidth_gb_s"].isna(), "model size or shape unknown (e.g. an imported row)",
                           np.where(same_host, "", np.where(offloaded, "offloaded to a GPU, whose limits were not "
                                                            "measured", "limits not measured on this row's host")))
    return out


def failures(runs: pd.DataFrame) -> pd.DataFrame:
    """Every row that is not a result: skipped, failed or timed out, with its reason."""
    columns = ["experiment", "model", "build", "machine", "pp", "tg", "b", "rep", "status", "reason",
               "exit_code", "signal", "source_file", "source_line"]
    runs = with_machine(runs)
    return runs.loc[runs["status"] != "ok", [c for c in columns if c in runs]].reset_index(drop=True)


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    return {s: int((runs["status"] == s).sum()) for s in ("ok", "skipped", "failed", "timeout")}


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
