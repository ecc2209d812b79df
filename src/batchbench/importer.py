"""Existing llama-batched-bench output, of any version, into rows of runs.parquet.

Reads the Markdown table (any era's header line: `llama_batched_bench:` or `main:`, with more or
fewer fields), `--output-format jsonl` lines, tables pasted into Markdown (`> ` quotes, trailing
`\\` hard breaks, code fences, Windows line ends), surrounded by any log noise, a table cut short
by a crash, and the perf counter lines. When the log states the intended grid (a command line
with -npp/-ntg/-npl) and the context (a header `n_kv_max = N`, or -c), the combinations that are
absent become rows too: `skipped` when they did not fit (llama-batched-bench drops those
silently), `failed` when they fit but the log ends before them.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from . import UserError
from .context import cells_needed
from .parse import QUOTE, clean, parse_header, parse_jsonl_line, table_cells, table_row

HEADER_CELLS = ["pp", "tg", "b", "n_kv", "t_pp s", "s_pp t/s", "t_tg s", "s_tg t/s", "t s", "s t/s"]
PERF = re.compile(r"(?:llama_perf_context_print|llama_print_timings):\s*(load|prompt eval|eval|total) time\s*=\s*"
                  r"([\d.]+) ms(?:\s*/\s*(\d+) (tokens|runs))?")


class LogFormatError(UserError):
    """A log that cannot be read as llama-batched-bench output; names the file and line."""

    def __init__(self, path: str, line: int | None, what: str):
        super().__init__(f"{path}{f':{line}' if line else ''}: {what}")


@dataclass
class Run:
    """One llama-batched-bench process as a log shows it: what it was asked, what it printed."""
    command_line: int | None = None
    grid: dict = field(default_factory=dict)   # npp, ntg, npl, ctx, pp_shared, kv_unified
    header: dict = field(default_factory=dict)
    rows: list[tuple[int, dict]] = field(default_factory=list)
    perf: dict = field(default_factory=dict)


def is_table_header(cells: list[str]) -> bool:
    return [" ".join(c.lower().split()) for c in cells] == HEADER_CELLS


def consistent(row: dict) -> bool:
    """Whether a row's numbers agree with each other the way batched-bench computes them
    (T = T_PP + T_TG, S_TG = B*TG/T_TG, S_PP = B*PP/T_PP or PP/T_PP), within the printed
    rounding: tells a batched-bench row from a look-alike of another tool."""
    def close(value, expected):
        return abs(value - expected) <= 0.011 + 0.01 * abs(expected)
    if abs(row["t"] - row["t_pp"] - row["t_tg"]) > 0.0025 + 0.001 * row["t"]:
        return False
    if row["t_tg"] > 0 and not close(row["s_tg"], row["b"] * row["tg"] / row["t_tg"]):
        return False
    if row["t_pp"] > 0:
        return close(row["s_pp"], row["b"] * row["pp"] / row["t_pp"]) or close(row["s_pp"], row["pp"] / row["t_pp"])
    return True


def int_list(text: str) -> list[int] | None:
    try:
        return [int(v) for v in text.split(",") if v != ""]
    except ValueError:
        return None


def parse_command(text: str) -> dict | None:
    """The grid a batched-bench command line asks for (current flags or the 2023 positional form:
    MODEL N_KV_MAX IS_PP_SHARED NGL MMQ NPP NTG NPL)."""
    match = re.search(r"(?:^|[\s/])(?:llama-)?batched-bench\b(.*)$", text)
    if not match:
        return None
    try:
        args = shlex.split(match.group(1))
    except ValueError:
        args = match.group(1).split()
    grid: dict = {}
    flags = {"-c": "ctx", "--ctx-size": "ctx", "-npp": "npp", "-ntg": "ntg", "-npl": "npl"}
    positional = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags and i + 1 < len(args):
            values = int_list(args[i + 1])
            if values:
                grid[flags[arg]] = values[0] if flags[arg] == "ctx" else values
            i += 2
            continue
        if arg == "-pps":
            grid["pp_shared"] = True
        elif arg in ("-kvu", "--kv-unified"):
            grid["kv_unified"] = True
        elif not arg.startswith("-"):
            positional.append(arg)
        i += 1
    if "npl" not in grid and len(positional) >= 8:  # 2023: model n_kv_max pps ngl mmq npp ntg npl
        values = [int_list(p) for p in positional[1:8]]
        if all(values):
            grid.update(ctx=values[0][0], pp_shared=bool(values[1][0]), npp=values[4], ntg=values[5],
                        npl=values[6])
    return grid if {"npp", "ntg", "npl"} <= set(grid) else None


def read_runs(path: str) -> list[Run]:
    """Every run a log shows, with its rows (as our columns) and their line numbers."""
    text = Path(path).read_text(errors="replace")
    runs: list[Run] = [Run()]
    in_table = False
    pending_command = ""
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        line = clean(raw)
        # a command continued over lines with a trailing backslash (before clean() dropped it)
        continued = QUOTE.sub("", raw.rstrip("\r\n")).rstrip().endswith("\\") and "|" not in line
        if pending_command or "batched-bench" in line:
            pending_command += " " + line
            if continued:
                continue
            grid = parse_command(pending_command)
            pending_command = ""
            if grid:
                if runs[-1].rows or runs[-1].grid:
                    runs.append(Run())
                runs[-1].grid, runs[-1].command_line = grid, number
            continue
        header = parse_header(line)
        if header:
            if runs[-1].rows:
                runs.append(Run(grid=dict(runs[-1].grid) if not runs[-1].header else {}))
            runs[-1].header = header
            continue
        perf = PERF.search(line)
        if perf:
            kind, ms, count, _ = perf.groups()
            runs[-1].perf[f"{kind.replace(' ', '_')}_ms"] = float(ms)
            if count:
                runs[-1].perf[f"{kind.replace(' ', '_')}_count"] = int(count)
            continue
        row = parse_jsonl_line(line)
        if row:
            if runs[-1].rows and "n_kv_max" in row and row["n_kv_max"] != runs[-1].header.get("n_kv_max"):
                runs.append(Run())
            runs[-1].header.update({k: row[k] for k in ("n_kv_max", "is_pp_shared") if k in row})
            runs[-1].rows.append((number, row))
            continue
        if line.lstrip().startswith("{") and any(f'"{k}"' in line for k in ("n_kv_max", "pp", "pl")):
            if number < len(lines) and any(parse_jsonl_line(clean(rest)) for rest in lines[number:]):
                raise LogFormatError(path, number, "a JSONL result line that cannot be read, "
                                                   "between readable ones")
        cells = table_cells(line)
        if cells is None:
            in_table = False
            continue
        if is_table_header(cells):
            in_table = True
            continue
        row = table_row(cells)
        if row and (in_table or consistent(row)):
            runs[-1].rows.append((number, row))
        elif in_table and row is None and len(cells) == len(HEADER_CELLS) and not set("".join(cells)) <= set("-: "):
            raise LogFormatError(path, number, f"a table row that cannot be read: {line.strip()[:120]!r}")
    return [run for run in runs if run.rows]


def shared_prompt(run: Run) -> bool:
    """-pps as the log states it (header or command line), else as its N_KV values show it: a
    headerless table whose every B > 1 row counts PP + B·TG cells had one shared prompt."""
    if "is_pp_shared" in run.header:
        return bool(run.header["is_pp_shared"])
    if "pp_shared" in run.grid:
        return bool(run.grid["pp_shared"])
    telling = [r for _, r in run.rows if r["b"] > 1 and r["pp"] > 0]
    return bool(telling) and all(r["n_kv"] == cells_needed(r["pp"], r["tg"], r["b"], True, True) for r in telling)


def absent_combinations(run: Run) -> list[tuple[dict, str, str]]:
    """(combination, status, reason) for each combination the run asked for and did not print."""
    grid = run.grid
    if not grid:
        return []
    printed = {(r["pp"], r["tg"], r["b"]) for _, r in run.rows}
    n_kv_max = run.header.get("n_kv_max") or grid.get("ctx")
    shared = shared_prompt(run)
    unified = bool(grid.get("kv_unified", False))
    out = []
    for pp, tg, b in itertools.product(grid["npp"], grid["ntg"], grid["npl"]):
        if (pp, tg, b) in printed:
            continue
        needed = cells_needed(pp, tg, b, shared, unified)
        combo = {"pp": pp, "tg": tg, "b": b, "n_kv": needed, "n_kv_max": n_kv_max}
        if n_kv_max and needed > n_kv_max:
            out.append((combo, "skipped", f"N_KV {needed} exceeds n_kv_max {n_kv_max}: "
                                          "llama-batched-bench skipped it without a word"))
        else:
            out.append((combo, "failed", "asked for but not in the log: the run ended before it"))
    return out


def import_records(path: str, experiment: str) -> list[dict]:
    """Job records (the shape bench_job writes) for every row of one log, plus its absent
    combinations; imported rows keep status `ok` and name their file and line."""
    runs = read_runs(path)
    if not runs:
        raise LogFormatError(path, None, "no llama-batched-bench results in it (neither a PP | TG | B "
                                         "| N_KV ... table nor JSONL lines)")
    name = Path(path).name
    records = []
    for k, run in enumerate(runs, start=1):
        # several tables in one log (e.g. before and after a change) are separate series
        model = name if len(runs) == 1 else f"{name} #{k}"
        base = {"schema_version": 1, "experiment": experiment, "model": model, "build": "imported",
                "rep": 1, "imported": True, "source_file": str(path),
                "options": {"pp_shared": shared_prompt(run), "kv_unified": bool(run.grid.get("kv_unified"))},
                "ctx": run.grid.get("ctx"), "perf": run.perf or None}
        for number, row in run.rows:
            metrics = {**run.header, **row}
            records.append({**base, "pp": row["pp"], "tg": row["tg"], "b": row["b"], "status": "ok",
                            "reason": "", "source_line": number, "metrics": metrics})
        for combo, status, reason in absent_combinations(run):
            records.append({**base, "pp": combo["pp"], "tg": combo["tg"], "b": combo["b"],
                            "status": status, "reason": reason, "source_line": run.command_line,
                            "metrics": {"n_kv": combo["n_kv"], "n_kv_max": combo["n_kv_max"]}})
    return records
