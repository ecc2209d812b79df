"""What one request sees: time to first token, time per output token, end-to-end latency, and
the throughput–latency frontier."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .combinations import COMBINATION, SERIES


def pareto_front(throughput: pd.Series, latency: pd.Series) -> pd.Series:
    """Whether each point is on the frontier: no other point is as fast with less latency (or
    faster with no more). One pass from the fastest down, instead of comparing every pair."""
    t, lat = throughput.to_numpy(float), latency.to_numpy(float)
    known = np.flatnonzero(~np.isnan(t) & ~np.isnan(lat))
    order = known[np.lexsort((lat[known], -t[known]))]  # fastest first; among ties, least latency first
    t_sorted, lat_sorted = t[order], lat[order]
    tie_start = np.ones(len(order), dtype=bool)
    tie_start[1:] = t_sorted[1:] != t_sorted[:-1]
    tie = np.cumsum(tie_start) - 1
    least = lat_sorted[tie_start]  # each tie's least latency
    least_faster = np.r_[np.inf, np.minimum.accumulate(least)[:-1]]  # among the strictly faster points
    on = np.zeros(len(t), dtype=bool)
    on[order] = ((lat_sorted == least[tie]) & (least[tie] < least_faster[tie])
                 & np.isfinite(t_sorted) & np.isfinite(lat_sorted))
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
