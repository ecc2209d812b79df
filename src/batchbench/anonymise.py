"""Tables and reports meant to be shared: host names, job ids and paths replaced, raw process
output left out."""

from __future__ import annotations

import json
import re

import pandas as pd

from .analysis.hardware import limits_list

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
