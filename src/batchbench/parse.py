"""Result lines of llama-batched-bench: JSONL objects and Markdown table rows.

Light on imports on purpose: it runs inside every benchmark job.
"""

from __future__ import annotations

import json
import re

from .metrics import CONFIG_KEYS, INT_METRICS, METRICS

# JSONL key -> our column name (the seed's names in lower case).
JSONL_KEYS = {"pp": "pp", "tg": "tg", "pl": "b", "n_kv": "n_kv", "t_pp": "t_pp",
              "speed_pp": "s_pp", "t_tg": "t_tg", "speed_tg": "s_tg", "t": "t", "speed": "s"}

# PP | TG | B | N_KV are counts; the six times and speeds are decimals
INT = re.compile(r"^\d+$")
DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")
QUOTE = re.compile(r"^\s*(?:>\s?)+")
# llama.cpp's log with timestamps and levels on (`--log-timestamps --log-prefix`): "0.00.012.345 I "
LOG_PREFIX = re.compile(r"^\d+\.\d{2}\.\d{3}\.\d{3} (?:[IWEDT] )?")
HEADER = re.compile(r"(?:llama_batched_bench|main):\s*(n_kv_max\s*=.*)$")


def parse_jsonl_line(line: str) -> dict | None:
    """One result object, renamed to our columns, or None if the line is not one."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not all(k in obj for k in JSONL_KEYS):
        return None
    row = {ours: obj[theirs] for theirs, ours in JSONL_KEYS.items()}
    # a garbled line is not a result: counts must be integers, times and speeds numbers
    if not all(type(row[k]) is int for k in INT_METRICS) or not all(
            type(row[k]) in (int, float) for k in METRICS if k not in INT_METRICS):
        return None
    row.update({k: obj[k] for k in CONFIG_KEYS if type(obj.get(k)) is int})
    return row


def clean(line: str) -> str:
    """The line without Markdown quoting, a log timestamp and level, a hard-break backslash and
    line-end characters."""
    return LOG_PREFIX.sub("", QUOTE.sub("", line.rstrip("\r\n"))).rstrip().removesuffix("\\").rstrip()


def table_cells(line: str) -> list[str] | None:
    """The cells of a Markdown table line, or None if it is not one."""
    text = line.strip()
    return [c.strip() for c in text.strip("|").split("|")] if text.startswith("|") else None


# The table's header row as llama-batched-bench prints it (lower case, single spaces); authors
# re-typeset it as `T_PP (s)` or name the batch column `PL` (the JSONL key).
HEADER_CELLS = ["pp", "tg", "b", "n_kv", "t_pp s", "s_pp t/s", "t_tg s", "s_tg t/s", "t s", "s t/s"]


def is_table_header(cells: list[str]) -> bool:
    normal = [" ".join(re.sub(r"[()]", " ", c.lower()).split()) for c in cells]
    return ["b" if c == "pl" else c for c in normal] == HEADER_CELLS


def table_row(cells: list[str]) -> dict | None:
    """A PP | TG | B | N_KV | T_PP | S_PP | T_TG | S_TG | T | S row as our columns, or None."""
    if len(cells) != len(METRICS):
        return None
    row = {}
    for name, cell in zip(METRICS, cells, strict=True):
        cell = cell.strip("*_` ")  # a value set in bold or as code by whoever pasted it
        if not (INT if name in INT_METRICS else DECIMAL).match(cell):
            return None
        row[name] = int(cell) if name in INT_METRICS else float(cell)
    return row


def parse_markdown_row(line: str) -> dict | None:
    cells = table_cells(clean(line))
    return table_row(cells) if cells else None


def parse_header(line: str) -> dict:
    """`n_kv_max = 2048, n_batch = 2048, ...` -> {"n_kv_max": 2048, ...} (any version's fields)."""
    match = HEADER.search(line)
    if not match:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(-?\d+)", match.group(1))}


def result_rows(stdout: str, stderr: str = "") -> list[dict]:
    """Every result in a process's output: JSONL if there is any, else the Markdown table."""
    rows = [r for r in map(parse_jsonl_line, stdout.splitlines()) if r]
    if rows:
        return rows
    header: dict = {}
    for line in (stdout + "\n" + stderr).splitlines():
        header = parse_header(line) or header
        row = parse_markdown_row(line)
        if row:
            rows.append({**header, **row})
    return rows
