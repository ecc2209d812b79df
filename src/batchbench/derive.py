"""All derived tables of an experiment, written as Parquet (for programs) and CSV (for people)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from . import analysis
from .analysis import DEFAULT_THRESHOLDS, Thresholds
from .collect import COLUMNS
from .outputs import TABLES

# an absolute path (not the path part of a URL): only its last name is kept
PATH = re.compile(r"(?<![\w:/.])(?:/[^/\s'\"]+)+/([^/\s'\"]+)")


def anonymise(runs: pd.DataFrame, limits: dict | None = None) -> tuple[pd.DataFrame, dict | None]:
    """Host names, job ids and paths replaced, for tables and reports meant to be shared:
    hosts become host-1, host-2, …; jobs job-1, …; a path keeps only its file name."""
    runs = runs.copy()
    names = set(runs["host_name"].dropna()) | set(runs["job_node"].dropna())
    if limits and limits.get("host_name"):
        names.add(limits["host_name"])
    hosts = {h: f"host-{i}" for i, h in enumerate(sorted(names), start=1)}
    jobs = {j: f"job-{i}" for i, j in enumerate(sorted(set(runs["job_id"].dropna())), start=1)}
    runs["host_name"] = runs["host_name"].map(hosts)
    runs["job_node"] = runs["job_node"].map(hosts)
    runs["job_id"] = runs["job_id"].map(jobs)
    # raw process output and argument lists can hold anything (job ids, user names): left out
    runs["command"] = None
    runs["stderr_tail"] = None
    for column in runs.columns:
        if runs[column].dtype == object or pd.api.types.is_string_dtype(runs[column]):
            runs[column] = runs[column].map(lambda v: _scrub(v, hosts), na_action="ignore")
    if limits:
        limits = {**limits, "host_name": hosts.get(limits.get("host_name"))}
    return runs, limits


def _scrub(value, names: dict) -> object:
    """Paths cut to their last name; each host name (longest first, whole words only) replaced by
    its alias."""
    if not isinstance(value, str):
        return value
    value = PATH.sub(r"\1", value)
    for name in sorted(names, key=len, reverse=True):
        value = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", names[name], value)
    return value


def derive(runs: pd.DataFrame, limits: dict | None,
           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, pd.DataFrame]:
    # a table collected by an earlier version lacks some columns: they are unknown, not an error
    runs = runs.reindex(columns=list(dict.fromkeys([*COLUMNS, *runs.columns])))
    table = analysis.combinations(runs, thresholds)
    return {
        "combinations": table,
        "n_kv_check": analysis.n_kv_check(table),
        "prompt_phase": analysis.prompt_phase(table),
        "generation_scaling": analysis.generation_scaling(table, thresholds),
        "saturation": analysis.saturation(table, thresholds),
        "context_effects": analysis.context_effects(table),
        "latency": analysis.latency(table),
        "hardware": analysis.hardware_efficiency(table, limits),
        "perf_reconciliation": analysis.perf_reconciliation(runs),
        "failures": analysis.failures(runs),
    }


def write(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            tmp = path.with_name(f".{path.name}.tmp")
            if suffix == ".parquet":
                table.to_parquet(tmp, index=False)
            else:
                table.to_csv(tmp, index=False)
            os.replace(tmp, path)


def read(folder: str | Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in TABLES}
