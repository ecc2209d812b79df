"""All derived tables of an experiment, written as Parquet (for programs) and CSV (for people)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from . import perf_model, summary
from .analysis.combinations import COMBINATION, DEFAULT_THRESHOLDS, SERIES, Thresholds, combinations, failures
from .analysis.comparison import COMPARE_COLUMNS, compare, compare_summary, comparison_pairs
from .analysis.hardware import hardware_efficiency, limits_list, perf_reconciliation
from .analysis.latency import latency
from .analysis.quality import drift, measurement_quality, trusted
from .analysis.questions import context_effects, generation_scaling, n_kv_check, prompt_phase, saturation
from .collect import COLUMNS
from .files import atomic_path
from .outputs import TABLES

# an absolute path (not the path part of a URL): only its last name is kept
PATH = re.compile(r"(?<![\w:/.])(?:/[^/\s'\"]+)+/([^/\s'\"]+)")


def anonymise(runs: pd.DataFrame, limits: dict | list[dict] | None = None
              ) -> tuple[pd.DataFrame, dict | list[dict] | None]:
    """Host names, job ids and paths replaced, for tables and reports meant to be shared:
    hosts become host-1, host-2, …; jobs job-1, …; a path keeps only its file name."""
    runs = runs.copy()
    names = set(runs["host_name"].dropna()) | set(runs["job_node"].dropna())
    names |= {entry["host_name"] for entry in limits_list(limits) if entry.get("host_name")}
    hosts = {h: f"host-{i}" for i, h in enumerate(sorted(names), start=1)}
    jobs = {j: f"job-{i}" for i, j in enumerate(sorted(set(runs["job_id"].dropna())), start=1)}
    runs["host_name"] = runs["host_name"].map(hosts)
    runs["job_node"] = runs["job_node"].map(hosts)
    runs["job_id"] = runs["job_id"].map(jobs)
    # raw process output and argument lists can hold anything (job ids, user names): left out
    runs["command"] = None
    runs["stderr_tail"] = None
    if "measurements" in runs:  # each attempt's stderr too
        runs["measurements"] = runs["measurements"].map(
            lambda m: json.dumps([{k: v for k, v in a.items() if k != "stderr_tail"} for a in json.loads(m)]),
            na_action="ignore")
    for column in runs.columns:
        if runs[column].dtype == object or pd.api.types.is_string_dtype(runs[column]):
            runs[column] = runs[column].map(lambda v: _scrub(v, hosts), na_action="ignore")
    if limits:
        hidden = [{**entry, "host_name": hosts.get(entry.get("host_name"))} for entry in limits_list(limits)]
        limits = hidden[0] if isinstance(limits, dict) else hidden
    return runs, limits


def scrub_paths(text: str) -> str:
    """Every absolute path cut to its last name."""
    return PATH.sub(r"\1", text)


def _scrub(value, names: dict) -> object:
    """Paths cut to their last name; each host name (longest first, whole words only) replaced by
    its alias."""
    if not isinstance(value, str):
        return value
    value = scrub_paths(value)
    for name in sorted(names, key=len, reverse=True):
        value = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", names[name], value)
    return value


def load(runs_paths: list[str], limits_paths: list[str], shared: bool
         ) -> tuple[pd.DataFrame, dict | list[dict] | None]:
    """The runs tables (several are stacked) and the machine's limits if measured (a list, one
    per machine, when there are several), as the analysis shares them: anonymised when asked."""
    runs = pd.concat([pd.read_parquet(p) for p in runs_paths], ignore_index=True)
    measured = [json.loads(Path(p).read_text()) for p in limits_paths]
    limits = (measured[0] if len(measured) == 1 else measured) or None
    return anonymise(runs, limits) if shared else (runs, limits)


def comparison(runs: pd.DataFrame, baselines: dict[str, str],
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
    runs = runs.reindex(columns=list(dict.fromkeys([*COLUMNS, *runs.columns])))
    table = combinations(runs, thresholds)
    hardware = hardware_efficiency(table, limits)
    keep = ["bandwidth_gb_s", "bandwidth_limit_gb_s", "bandwidth_pct", "flops_g", "flops_limit_g", "flops_pct"]
    speeds = ["n_reps", "s_pp", "s_tg", "s_tg_min", "s_tg_max", "s", "valid"]
    out = pd.concat([table[SERIES + COMBINATION + speeds], hardware[keep]], axis=1)
    return out[out["machine"] != ""].reset_index(drop=True)


def derive(runs: pd.DataFrame, limits: dict | list[dict] | None, thresholds: Thresholds = DEFAULT_THRESHOLDS,
           predict: list[dict] | None = None) -> dict[str, pd.DataFrame]:
    """Every table; `predict`: other model shapes (as in `analysis.predict`) to predict."""
    # a table collected by an earlier version lacks some columns: they are unknown, not an error
    runs = runs.reindex(columns=list(dict.fromkeys([*COLUMNS, *runs.columns])))
    table = combinations(runs, thresholds)
    # the verdicts (Q2-Q5) leave out what interference or an outlier made untrustworthy
    kept = trusted(table)
    tables = {
        "combinations": table,
        "n_kv_check": n_kv_check(table),
        "prompt_phase": prompt_phase(kept),
        "generation_scaling": generation_scaling(kept, thresholds),
        "saturation": saturation(kept, thresholds),
        "context_effects": context_effects(kept),
        "latency": latency(table),
        "hardware": hardware_efficiency(table, limits),
        "perf_reconciliation": perf_reconciliation(runs),
        "failures": failures(runs),
        "drift": drift(runs),
        "measurement_quality": measurement_quality(runs, table),
        **perf_model.tables(table, limits, thresholds, predict),
    }
    return {"summary": summary.summary(tables), **tables}


def write(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        with atomic_path(folder / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        with atomic_path(folder / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)


def read(folder: str | Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in TABLES}
