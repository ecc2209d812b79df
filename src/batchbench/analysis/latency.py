"""What one request sees: time to first token, time per output token, end-to-end latency, and
the throughput–latency frontier."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .combinations import COMBINATION, SERIES


def pareto_front(throughput: pd.Series, latency: pd.Series) -> pd.Series:
    """Whether each point is on the frontier: no other point is as fast with less latency (or
    faster with no more). One sweep from the fastest down, instead of comparing every pair."""
    t, lat = throughput.to_numpy(float), latency.to_numpy(float)
    on = np.zeros(len(t), dtype=bool)
    known = np.flatnonzero(~np.isnan(t) & ~np.isnan(lat))
    order = known[np.lexsort((lat[known], -t[known]))]  # fastest first, then least latency
    faster_best = np.inf  # the least latency among the points strictly faster than this one
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and t[order[end]] == t[order[start]]:
            end += 1
        tied = order[start:end]
        least = lat[tied[0]]  # no point as fast has less latency than it
        on[tied] = (lat[tied] == least) & (least < faster_best) & np.isfinite(t[tied]) & np.isfinite(lat[tied])
        faster_best = min(faster_best, least)
        start = end
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
