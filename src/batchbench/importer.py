"""Existing llama-batched-bench output, of any version, into rows of runs.parquet.

Reads the Markdown table (any era's header line: `llama_batched_bench:` or `main:`, with more or
fewer fields; headers re-typeset by hand: `T_PP (s)`, a batch column `PL`, `|---:|` separators),
`--output-format jsonl` lines, tables pasted into Markdown (`> ` quotes, `<details>`, trailing
`\\` hard breaks, code fences, Windows line ends), surrounded by any log noise, a table cut short
by a crash, and the perf counter lines.

Each table is its own series (a new table header row starts one, whatever separates it from the
last), named by the heading, bold line or `label:` line right above it or its command. Every
printed row is kept; one whose numbers disagree with each other is kept as printed and says how
(`inconsistent`). Absent combinations come only from a table's own command: the nearest command
above it, with nothing but its output between them and no printed row contradicting it. They
become `skipped` rows when they did not fit (llama-batched-bench drops those silently), `failed`
when they fit but the log ends before them.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from . import UserError, record
from .kv_cache import cells_allocated, cells_needed
from .metrics import CONFIG_KEYS
from .parse import QUOTE, clean, is_table_header, parse_header, parse_jsonl_line, table_cells, table_row

PERF = re.compile(r"(?:llama_perf_context_print|llama_print_timings):\s*(load|prompt eval|eval|total) time\s*=\s*"
                  r"([\d.]+) ms(?:\s*/\s*(\d+) (tokens|runs))?")
# Lines a label may stand behind (as may the tool's header line): blank, a code fence, an HTML wrapper.
TRANSPARENT = re.compile(r"^(?:`{3,}.*|</?(?:details|summary|p|br)\b.*|)$", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
BOLD = re.compile(r"^(?:\*\*|__)(.+?)(?:\*\*|__):?$")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+\S")
MAX_LABEL = 80  # longer "headings" are comments or prose, not names
LOG_LINE = re.compile(r"^[\w.\-\[\]]+(?:\s\w+)?:\s|=|^\s*\w+\s*:\s*\S")


class LogFormatError(UserError):
    """A log that cannot be read as llama-batched-bench output; names the file and line."""

    def __init__(self, path: str, line: int | None, what: str):
        super().__init__(f"{path}{f':{line}' if line else ''}: {what}")


@dataclass
class Command:
    """A batched-bench command line: the grid it asks for, and whether it still owns what follows."""
    grid: dict
    line: int
    label: str | None
    open: bool = True   # nothing but its own output since


@dataclass
class Run:
    """One table (or one run's JSONL lines) of a log: what it printed and, when provable, what it
    was asked."""
    kind: str = "markdown"                 # or "jsonl"
    command_line: int | None = None
    grid: dict = field(default_factory=dict)   # npp, ntg, npl, ctx, pp_shared, kv_unified
    header: dict = field(default_factory=dict)
    rows: list[tuple[int, dict]] = field(default_factory=list)
    perf: dict = field(default_factory=dict)
    label: str | None = None
    section: str | None = None
    has_header_row: bool = False


def arithmetic_errors(row: dict) -> list[str]:
    """How a row's times and speeds disagree with each other the way batched-bench computes them
    (T = T_PP + T_TG, S_TG = B*TG/T_TG, S_PP = B*PP/T_PP or PP/T_PP), beyond the printed rounding."""
    def close(value, expected):
        return abs(value - expected) <= 0.011 + 0.01 * abs(expected)
    errors = []
    total = row["t_pp"] + row["t_tg"]
    if abs(row["t"] - total) > 0.0025 + 0.001 * row["t"]:
        errors.append(f"T {row['t']:.3f} s is not T_PP + T_TG = {total:.3f} s ({row['t'] - total:+.3f} s)")
    if row["t_tg"] > 0 and not close(row["s_tg"], row["b"] * row["tg"] / row["t_tg"]):
        errors.append(f"S_TG {row['s_tg']:.2f} t/s is not B*TG/T_TG = {row['b'] * row['tg'] / row['t_tg']:.2f}")
    if row["t_pp"] > 0 and not (close(row["s_pp"], row["b"] * row["pp"] / row["t_pp"])
                                or close(row["s_pp"], row["pp"] / row["t_pp"])):
        errors.append(f"S_PP {row['s_pp']:.2f} t/s is neither B*PP/T_PP = {row['b'] * row['pp'] / row['t_pp']:.2f}"
                      f" nor PP/T_PP = {row['pp'] / row['t_pp']:.2f}")
    return errors


def consistent(row: dict) -> bool:
    """Whether a row's arithmetic is batched-bench's: tells its rows from a look-alike of another tool."""
    return not arithmetic_errors(row)


def n_kv_error(row: dict, shared: bool, unified: bool) -> str | None:
    """How a row's N_KV disagrees with its PP, TG, B and the run's flags (every era's formula for a
    shared prompt: PP + B*TG before Aug 2025 or with -kvu, B*PP + B*TG after), or None."""
    pp, tg, b = row["pp"], row["tg"], row["b"]
    allowed = {cells_needed(pp, tg, b, True, True), cells_needed(pp, tg, b, True, unified)} if shared else \
        {cells_needed(pp, tg, b)}
    if row["n_kv"] in allowed:
        return None
    formula = "PP + B*TG" if shared else "(PP+TG)*B"
    return f"N_KV {row['n_kv']} is not {formula} = {min(allowed)}"


def int_list(text: str) -> list[int] | None:
    try:
        return [int(v) for v in text.split(",") if v != ""]
    except ValueError:
        return None


def parse_command(text: str) -> dict | None:
    """The grid a batched-bench command line asks for (current flags or the positional forms:
    MODEL N_KV_MAX [N_BATCH N_UBATCH] IS_PP_SHARED NGL MMQ NPP NTG NPL)."""
    match = re.search(r"^.*(?:^|[\s/`])(?:llama-)?batched-bench(?:\.exe)?\b(.*)$", text)  # the last one
    if not match:
        return None
    rest = re.split(r"`|&&|\|\||;|\s\|\s|\s\d?>", match.group(1))[0]
    try:
        args = shlex.split(rest, comments=True)
    except ValueError:
        args = rest.split()
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
    if "npl" not in grid and len(positional) in (8, 10):  # 2023: 8 positional, 2024: +N_BATCH N_UBATCH
        values = [int_list(p) for p in positional[1:]]
        if all(values):
            grid.update(ctx=values[0][0], pp_shared=bool(values[-6][0]), npp=values[-3], ntg=values[-2],
                        npl=values[-1])
    return grid if {"npp", "ntg", "npl"} <= set(grid) else None


def label_of(line: str) -> str | None:
    """The text of a heading, a bold line or a short line ending in ':' (a series label), or None."""
    text = line.strip()
    found = None
    for pattern in (HEADING, BOLD):
        match = pattern.match(text)
        if match:
            found = match.group(1).strip(" *_`:")
            break
    else:
        if text.endswith(":") and not text.startswith("|") and len(text.split()) <= 12 \
                and not LOG_LINE.search(text[:-1]):
            found = text[:-1].strip(" *_`")
    return found if found and len(found) <= MAX_LABEL else None


def is_prose(line: str) -> bool:
    """A sentence or a list item outside a code fence: text a person wrote about the command, not
    its output."""
    text = line.strip()
    if LIST_ITEM.match(text):
        return True
    if LOG_LINE.search(text) or "|" in text:
        return False
    words = len(re.findall(r"[^\W\d_]{2,}", text))
    # program output names things: blk.0.attn_v, LLM_ARCH_DEEPSEEK2, AnnotateHappensAfter, /path
    names = len(re.findall(r"\w[._/]\w|[a-z][A-Z]", text))
    return words >= 5 and names == 0 or words >= 12 and names <= 1


def contradiction(run: Run) -> str | None:
    """Why the command above a table cannot be the one that printed it, or None."""
    grid = run.grid
    lists = {"pp": grid["npp"], "tg": grid["ntg"], "b": grid["npl"]}
    capacity = None
    if grid.get("ctx"):
        capacity = cells_allocated(grid["ctx"], max(grid["npl"]), bool(grid.get("kv_unified")))
    for _, row in run.rows:
        for key, allowed in lists.items():
            if row[key] not in allowed:
                return f"{key.upper()} {row[key]} is not in the command's list"
        if capacity and row["n_kv"] > capacity:
            return f"N_KV {row['n_kv']} exceeds the command's context ({capacity} cells)"
    return None


def read_runs(path: str) -> list[Run]:
    """Every table and JSONL run a log shows, with its rows (as our columns) and their line numbers."""
    text = Path(path).read_text(errors="replace")
    runs: list[Run] = []
    table: Run | None = None       # the Markdown table being read
    command: Command | None = None
    header: dict = {}              # the latest header line, for the next table
    label: str | None = None       # a label with only transparent lines after it
    section: str | None = None     # the latest heading
    pending_command = ""
    in_fence = False               # inside a code fence: output, never prose
    jsonl_open = False             # only JSONL results (and blank lines) since the last one
    rows_open = False              # only table lines (and blank lines) since the last table row
    lines = text.splitlines()

    def start(kind: str, has_header_row: bool) -> Run:
        nonlocal command, header, label
        run = Run(kind=kind, header=dict(header), label=label, section=section, has_header_row=has_header_row)
        if command and command.open:
            run.grid, run.command_line = command.grid, command.line
            run.label = run.label or command.label
        command, header, label = None, {}, None
        runs.append(run)
        return run

    for number, raw in enumerate(lines, start=1):
        line = clean(raw)
        stripped = line.strip()
        if stripped and not stripped.startswith("{"):
            jsonl_open = False
        if stripped and not stripped.startswith("|"):
            rows_open = False
        # a command continued over lines with a trailing backslash (before clean() dropped it)
        continued = QUOTE.sub("", raw.rstrip("\r\n")).rstrip().endswith("\\") and "|" not in line
        if pending_command or "batched-bench" in line:
            pending_command += " " + line
            if continued:
                continue
            grid = parse_command(pending_command)
            pending_command = ""
            if grid:
                table = None
                command = Command(grid, number, label)
                label = None
                continue
        parsed_header = parse_header(line)
        if parsed_header:
            table, header = None, parsed_header
            continue
        perf = PERF.search(line)
        if perf:
            kind, ms, count, _ = perf.groups()
            if runs:
                runs[-1].perf[f"{kind.replace(' ', '_')}_ms"] = float(ms)
                if count:
                    runs[-1].perf[f"{kind.replace(' ', '_')}_count"] = int(count)
            continue
        row = parse_jsonl_line(line)
        if row:
            config = {k: row[k] for k in CONFIG_KEYS if k in row}
            last = runs[-1] if runs else None
            # the next line of the same run: right after the last one, with the same settings
            if not (last and last.kind == "jsonl" and jsonl_open
                    and {k: last.header.get(k) for k in config} == config):
                last = start("jsonl", False)
            table, jsonl_open = None, True
            last.header.update(config)
            last.rows.append((number, row))
            continue
        if stripped.startswith("{") and any(f'"{k}"' in line for k in ("n_kv_max", "pp", "pl")):
            if number < len(lines) and any(parse_jsonl_line(clean(rest)) for rest in lines[number:]):
                raise LogFormatError(path, number, "a JSONL result line that cannot be read, "
                                                   "between readable ones")
        cells = table_cells(line)
        if cells is None:
            table = None
            if stripped.startswith("```"):
                in_fence = not in_fence
            if TRANSPARENT.match(stripped):
                continue
            label = label_of(stripped)
            if label and HEADING.match(stripped):
                section = label
            if command and label is None and not in_fence and is_prose(stripped):
                command.open = False
            continue
        if is_table_header(cells):
            table = start("markdown", True)
            continue
        row = table_row(cells)
        if row:
            if table is None and rows_open and runs[-1].kind == "markdown":
                table = runs[-1]  # the same table after a blank line: no new header row, no new series
            elif table is None:  # rows without a header row of their own: a table pasted without it
                table = start("markdown", False)
            table.rows.append((number, row))
            rows_open = True
        elif table and table.has_header_row and len(cells) == 10 and not set("".join(cells)) <= set("-: "):
            raise LogFormatError(path, number, f"a table row that cannot be read: {stripped[:120]!r}")
        elif table and not set("".join(cells)) <= set("-: "):
            table = None
    kept = []
    for run in runs:
        if not run.rows:
            continue
        # a table whose arithmetic is mostly not batched-bench's is another tool's look-alike
        if sum(consistent(r) for _, r in run.rows) * 2 < len(run.rows):
            continue
        if run.grid and contradiction(run):
            run.grid, run.command_line = {}, None
        kept.append(run)
    return kept


def shared_prompt(run: Run) -> bool:
    """-pps as the log states it (header or command line), else as its N_KV values show it: a
    headerless table whose B > 1 rows count PP + B·TG cells (most of them: one may be a typo) had
    one shared prompt."""
    if "is_pp_shared" in run.header:
        return bool(run.header["is_pp_shared"])
    if "pp_shared" in run.grid:
        return bool(run.grid["pp_shared"])
    telling = [r for _, r in run.rows if r["b"] > 1 and r["pp"] > 0]
    shared = sum(r["n_kv"] == cells_needed(r["pp"], r["tg"], r["b"], True, True) for r in telling)
    return shared * 2 > len(telling)


def inconsistencies(row: dict, shared: bool, unified: bool) -> str:
    """The row's disagreements with itself, in words ('' when it has none)."""
    errors = arithmetic_errors(row)
    n_kv = n_kv_error(row, shared, unified)
    return "; ".join(errors + ([n_kv] if n_kv else []))


def absent_combinations(run: Run) -> list[tuple[dict, str, str]]:
    """(combination, status, reason) for each combination the run's own command asked for and the
    table does not print."""
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
            out.append((combo, record.SKIPPED, f"N_KV {needed} exceeds n_kv_max {n_kv_max}: "
                                          "llama-batched-bench skipped it without a word"))
        else:
            out.append((combo, record.FAILED, "asked for but not in the log: the run ended before it"))
    return out


def series_names(name: str, runs: list[Run]) -> list[str]:
    """`<file>` for one table; for several, `<file> #k: <label>` with the label that stands above
    each table (or the heading of its section), a label several tables share prefixed with each
    one's section heading."""
    if len(runs) == 1:
        return [name]
    labels = [run.label or run.section for run in runs]
    out = []
    for k, (run, text) in enumerate(zip(runs, labels, strict=True), start=1):
        if text and labels.count(text) > 1 and run.section and run.section != text:
            text = f"{run.section}: {text}"
        out.append(f"{name} #{k}: {text}" if text else f"{name} #{k}")
    return out


def import_records(path: str, experiment: str) -> list[dict]:
    """Job records (the shape bench_job writes) for every row of one log, plus its absent
    combinations; imported rows keep status `ok`, name their file and line, and say in
    `inconsistent` how their printed numbers disagree, if they do."""
    runs = read_runs(path)
    if not runs:
        raise LogFormatError(path, None, "no llama-batched-bench results in it (neither a PP | TG | B "
                                         "| N_KV ... table nor JSONL lines)")
    records = []
    for run, model in zip(runs, series_names(Path(path).name, runs), strict=True):
        shared, unified = shared_prompt(run), bool(run.grid.get("kv_unified"))
        base = {"experiment": experiment, "model": model, "source_file": str(path), "ctx": run.grid.get("ctx"),
                "options": {"pp_shared": shared, "kv_unified": unified,
                            "tg_separate": bool(run.header.get("is_tg_separate"))},
                "perf": run.perf or None}
        for number, row in run.rows:
            metrics = {**run.header, **row}
            records.append(record.imported(**base, combination=row, status=record.OK, reason="",
                                           source_line=number, metrics=metrics,
                                           inconsistent=inconsistencies(row, shared, unified) or None))
        for combo, status, reason in absent_combinations(run):
            records.append(record.imported(**base, combination=combo, status=status, reason=reason,
                                           source_line=run.command_line,
                                           metrics={"n_kv": combo["n_kv"], "n_kv_max": combo["n_kv_max"]}))
    return records
