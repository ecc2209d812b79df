"""Result lines of llama-batched-bench: JSONL objects and Markdown table rows.

Light on imports on purpose: it runs inside every benchmark job.
"""

from __future__ import annotations

import json
import re

METRICS = ("pp", "tg", "b", "n_kv", "t_pp", "s_pp", "t_tg", "s_tg", "t", "s")
# JSONL key -> our column name (the seed's names in lower case).
JSONL_KEYS = {"pp": "pp", "tg": "tg", "pl": "b", "n_kv": "n_kv", "t_pp": "t_pp",
              "speed_pp": "s_pp", "t_tg": "t_tg", "speed_tg": "s_tg", "t": "t", "speed": "s"}
CONFIG_KEYS = ("n_kv_max", "n_batch", "n_ubatch", "flash_attn", "is_pp_shared", "n_gpu_layers",
               "n_threads", "n_threads_batch")
INT_COLUMNS = {"pp", "tg", "b", "n_kv"}

_INT = r"\s*(\d+)\s*"
_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
# PP | TG | B | N_KV are counts; the six times and speeds are decimals
MARKDOWN_ROW = re.compile(r"^\s*\|" + r"\|".join([_INT] * 4 + [_NUMBER] * 6) + r"\|")
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
    if not all(type(row[k]) is int for k in INT_COLUMNS) or not all(
            type(row[k]) in (int, float) for k in METRICS if k not in INT_COLUMNS):
        return None
    row.update({k: obj[k] for k in CONFIG_KEYS if type(obj.get(k)) is int})
    return row


def parse_markdown_row(line: str) -> dict | None:
    match = MARKDOWN_ROW.match(line)
    if not match:
        return None
    return {name: (int(v) if name in INT_COLUMNS else float(v))
            for name, v in zip(METRICS, match.groups(), strict=True)}


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
