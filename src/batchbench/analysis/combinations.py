"""One row per measured combination (the median of its repetitions, their spread and a bootstrap
interval) and its validity: timer and noise flags, disturbed measurements, outliers across B; the
names of its keys, metrics and options, and the thresholds that judge it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..collect import COLUMNS
from ..llama_options import OPTION_COLUMNS
from ..metrics import COMBINATION as COMBINATION_KEYS
from ..metrics import MEASURED
from ..record import STATUSES

METRICS = list(MEASURED)
COMBINATION = list(COMBINATION_KEYS)
SERIES = ["experiment", "model", "build", "machine", "config"]

# Options that make two rows different measurements; those that vary form the `config` label.
OPTIONS = [*OPTION_COLUMNS, "extra_args"]

# Carried from the rows into the per-combination table (the same for every repetition).
CARRIED = ["host_name", "host_cpu", "imported", "source_file", "pp_shared", "kv_unified", "n_gpu_layers",
           "tg_separate", "cache_type_k", "cache_type_v", "model_params", "model_bytes",
           "model_block_params", "model_output_params", "model_decode_bytes", "model_n_layer",
           "model_n_head_kv", "model_head_dim", "start_time", "inconsistent", "ubatch"]
BOOTSTRAP_FROM = 5  # 3 values have only 10 distinct resamples
BOOTSTRAP_RESAMPLES = 2000


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


def with_all_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """A table collected by an earlier version lacks some columns: they are unknown, not an error."""
    return runs.reindex(columns=list(dict.fromkeys([*COLUMNS, *runs.columns])))


def with_machine(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows with every series column; `machine` "" for rows of no configured machine: one
    value that groups, merges and compares like the others (a missing column: collected before
    machines existed)."""
    runs = runs.reindex(columns=[*runs.columns, *(c for c in SERIES if c not in runs and c != "config")])
    return runs.assign(machine=runs["machine"].astype(object).where(runs["machine"].notna(), ""))


def grid_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The grid's rows, without the drift sentinel's re-measurements (see `drift`)."""
    return runs[runs["sentinel"].isna()] if "sentinel" in runs else runs


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


def disturbed_flags(ok: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Per combination, why its measurement was disturbed ('' when none of its repetitions was):
    the job measured it again and every attempt was disturbed."""
    if "disturbed" not in ok or ok.empty:
        return pd.Series([""] * len(table), dtype=object)
    disturbed = ok["disturbed"].eq(True)
    reason = ok["disturbed_reason"].map(lambda v: v if isinstance(v, str) else "")
    # the reason of the first disturbed repetition (null on the others, which `first` skips)
    marked = ok.assign(_d=disturbed, _why=reason.where(disturbed))
    groups = marked.groupby(SERIES + COMBINATION, dropna=False, sort=True)
    count, first, reps = groups["_d"].sum(), groups["_why"].first().fillna(""), groups.size()
    return pd.Series([f"disturbed ({int(n)} of {int(r)} repetitions): {why}" if n else ""
                      for n, r, why in zip(count, reps, first, strict=True)], dtype=object)


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
    reasons = [""] * len(table)
    b = table["b"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # TG = 0 (an imported row): no step time
        step = table["t_tg"].to_numpy(float) / table["tg"].to_numpy(float)
    metrics = (("T_TG/TG", step, 1000, "ms", 1), ("S_PP", table["s_pp"].to_numpy(float), 1, "t/s", -1))
    # the positions of each series' rows, by B (plain arrays: a group's frame costs more than its fit)
    for rows in table.groupby(SERIES + ["pp", "tg"], dropna=False, sort=False).indices.values():
        rows = rows[np.argsort(b[rows], kind="stable")]
        for label, values, scale, unit, slower in metrics:
            y = values[rows]
            usable = rows[(y > 0) & np.isfinite(y) & (b[rows] > 0)]
            if len(usable) < OUTLIER_MIN_POINTS:
                continue
            for i, ratio in outlier_points(np.log2(b[usable]), np.log(values[usable]), factor, slower).items():
                row = usable[i]
                note = (f"outlier: {label} {values[row] * scale:.4g} {unit} at B={int(b[row])} is {ratio:.2f}x "
                        f"what its series' other B values predict")
                reasons[row] = f"{reasons[row]}; {note}" if reasons[row] else note
    return pd.Series(reasons, index=table.index, dtype=object)


def prompt_tokens(table: pd.DataFrame) -> pd.Series:
    return table["pp"].where(table["pp_shared"].astype(bool), table["b"] * table["pp"])


def failures(runs: pd.DataFrame) -> pd.DataFrame:
    """Every row that is not a result: skipped, failed or timed out, with its reason."""
    columns = ["experiment", "model", "build", "machine", "pp", "tg", "b", "rep", "status", "reason",
               "exit_code", "signal", "source_file", "source_line"]
    runs = with_machine(runs)
    return runs.loc[runs["status"] != "ok", [c for c in columns if c in runs]].reset_index(drop=True)


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    return {s: int((runs["status"] == s).sum()) for s in STATUSES}
