"""The answer at a glance, per model × build × options × machine: every number taken from
another derived table, so the report's summary and the tables cannot disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis.combinations import SERIES
from .perf_model import KEYS

COLUMNS = KEYS + [
    "peak_s_tg", "peak_b", "peak_pp", "peak_tg", "b1_pp", "b1_tg", "b1_ttft_s", "b1_tpot_ms",
    "saturation_b", "saturation_groups", "model_crossover_b", "model_fits", "b1_bandwidth_gb_s",
    "b1_bandwidth_pct", "bandwidth_limit_gb_s", "combinations", "flagged", "ok", "skipped", "failed",
    "timeout", "note"]


def _match(frame: pd.DataFrame, keys: dict) -> pd.DataFrame:
    present = {k: v for k, v in keys.items() if k in frame}
    if not present:
        return frame
    return frame[np.logical_and.reduce([(frame[k] == v) if pd.notna(v) else frame[k].isna()
                                        for k, v in present.items()])]


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per series: the peak S_TG and where (valid rows; all rows when every one is flagged), the
    interactive case (B = 1 at the smallest PP, then TG): TTFT, TPOT and the share of the measured
    bandwidth; the saturation point of S_TG (median over the PP × TG groups that reach one) and
    the model's crossover; and how many rows were skipped, failed, timed out or flagged."""
    table, latency, hardware = tables["combinations"], tables["latency"], tables["hardware"]
    saturation, model, failures = tables["saturation"], tables["perf_model"], tables["failures"]
    series = table[KEYS].drop_duplicates()
    where = ["experiment", "model", "build", "machine"]  # what a failed row names of its series
    lost = failures[where].drop_duplicates()
    lost = lost.merge(series[where], how="left", indicator=True)
    lost = lost[lost["_merge"] == "left_only"].drop(columns="_merge")  # series with no result at all
    rows = []
    for keys in [*series.to_dict("records"), *lost.to_dict("records")]:
        keys = {k: keys.get(k, "" if k == "config" else np.nan) for k in KEYS}
        mine = _match(table, keys)
        valid = mine[mine["valid"].astype(bool)]
        pool, note = (valid, "") if len(valid) else (mine, "every combination is flagged: from flagged rows")
        row = {**keys, "combinations": len(mine), "flagged": int((~mine["valid"].astype(bool)).sum()), "note": note}
        lost_rows = _match(failures, {k: keys[k] for k in where})
        for status in ("skipped", "failed", "timeout"):
            row[status] = int((lost_rows["status"] == status).sum())
        row["ok"] = int(mine["n_reps"].sum()) if len(mine) else 0
        if len(pool) and pool["s_tg"].notna().any():
            peak = pool.loc[pool["s_tg"].idxmax()]
            row.update(peak_s_tg=peak["s_tg"], peak_b=peak["b"], peak_pp=peak["pp"], peak_tg=peak["tg"])
        b1 = _match(latency, keys)
        b1 = b1[(b1["b"] == 1) & (b1["valid"].astype(bool) | (not len(valid)))].sort_values(["pp", "tg"])
        if len(b1):
            first = b1.iloc[0]
            row.update(b1_pp=first["pp"], b1_tg=first["tg"], b1_ttft_s=first["ttft_s"], b1_tpot_ms=first["tpot_ms"])
            used = _match(hardware, {**keys, "pp": first["pp"], "tg": first["tg"], "b": 1})
            if len(used):
                row.update(b1_bandwidth_gb_s=used["bandwidth_gb_s"].iloc[0],
                           b1_bandwidth_pct=used["bandwidth_pct"].iloc[0],
                           bandwidth_limit_gb_s=used["bandwidth_limit_gb_s"].iloc[0])
        points = _match(saturation, {k: keys[k] for k in SERIES})
        points = points[points["metric"] == "s_tg"]
        reached = points["saturation_b"].dropna()
        row["saturation_b"] = float(reached.median()) if len(reached) else np.nan
        row["saturation_groups"] = f"{len(reached)} of {len(points)}"
        fitted = _match(model, keys)
        if len(fitted):
            row["model_crossover_b"] = fitted["crossover_b"].iloc[0]
            row["model_fits"] = bool(fitted["fits"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
