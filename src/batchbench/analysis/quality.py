"""How far the measurements can be trusted over the run: the drift sentinel's spread, the
surroundings' counters, and the combinations the verdicts keep."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .combinations import COMBINATION, SERIES, with_config_label, with_machine

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
