"""How close to the machine: bandwidth and FLOP/s achieved against each machine's measured
limits, and an imported log's perf counters reconciled with its table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..kv_cache import CACHE_TYPE_BYTES
from .combinations import COMBINATION, SERIES, prompt_tokens

WARMUP_TOKENS = 16  # batched-bench's one warm-up decode per process


def perf_reconciliation(runs: pd.DataFrame) -> pd.DataFrame:
    """An imported log's llama_perf_context_print counters against its table. llama.cpp files
    every decode of more than one token under "prompt eval" and only single-token decodes under
    "eval": so prompt eval = every prompt + every generation step with B ≥ 2 + the warm-up, and
    eval = the generation of the B = 1 rows."""
    rows = []
    logged = runs[runs["source_perf"].notna() & (runs["status"] == "ok")]
    for (source, perf_json), group in logged.groupby(["source_file", "source_perf"], sort=True):
        perf = json.loads(perf_json)
        prompts = int(prompt_tokens(group).sum())
        multi = group[group["b"] >= 2]
        single = group[group["b"] == 1]
        table_prompt_ms = (group["t_pp"].sum() + multi["t_tg"].sum()) * 1000
        table_prompt_tokens = prompts + int((multi["b"] * multi["tg"]).sum()) + WARMUP_TOKENS
        counters = [("prompt eval", "prompt_eval", table_prompt_ms, table_prompt_tokens,
                     f"ΣT_PP ({group['t_pp'].sum():.1f} s, {prompts} tokens) + ΣT_TG of the "
                     f"B ≥ 2 rows ({multi['t_tg'].sum():.1f} s, {int((multi['b'] * multi['tg']).sum())} "
                     f"tokens) + the {WARMUP_TOKENS}-token warm-up"),
                    ("eval", "eval", single["t_tg"].sum() * 1000, int(single["tg"].sum()),
                     f"ΣT_TG of the {len(single)} B = 1 rows ({single['t_tg'].sum():.1f} s)")]
        for name, key, table_ms, table_count, explained in counters:
            if f"{key}_ms" not in perf:
                continue
            logged_ms = perf[f"{key}_ms"]
            rows.append({"source_file": source, "counter": name, "logged_ms": logged_ms,
                         "logged_count": perf.get(f"{key}_count"), "table_ms": table_ms,
                         "table_count": table_count, "difference_ms": logged_ms - table_ms,
                         "difference_share": (logged_ms - table_ms) / logged_ms if logged_ms else np.nan,
                         "explained_by": explained})
    return pd.DataFrame(rows, columns=["source_file", "counter", "logged_ms", "logged_count", "table_ms",
                                       "table_count", "difference_ms", "difference_share", "explained_by"])


def kv_bytes_per_cell(row) -> float:
    """K and V of every layer, for one cell, in the cache types the job used (f16 by default)."""
    per_element = (CACHE_TYPE_BYTES.get(row.cache_type_k or "f16", 2.0)
                   + CACHE_TYPE_BYTES.get(row.cache_type_v or "f16", 2.0))
    return row.model_n_layer * row.model_n_head_kv * row.model_head_dim * per_element


def limits_list(limits: dict | list[dict] | None) -> list[dict]:
    """The measured limits as a list: one entry per machine (a single dict: one machine)."""
    if not limits:
        return []
    return [limits] if isinstance(limits, dict) else list(limits)


def limits_of(limits: dict | list[dict] | None, machine: str) -> dict:
    """One machine's measured limits ({} when not measured); `machine` "" without `machines`."""
    return next((e for e in limits_list(limits) if (e.get("machine") or "") == machine), {})


def hardware_efficiency(table: pd.DataFrame, limits: dict | list[dict] | None) -> pd.DataFrame:
    """How close to the machine: memory bandwidth achieved in generation (the weights a decode
    step reads, once per step, plus the KV cache filled so far) and FLOP/s achieved in prompt
    processing (2 × block parameters × prompt tokens, plus the output layer for the one token per
    sequence that needs logits; attention left out), against the limits measured on the same host."""
    out = table[SERIES + COMBINATION + ["t_pp", "t_tg", "valid", "host_name"]].copy()
    steps = table["tg"] * table["b"].where(table["tg_separate"].astype(bool), 1)
    # cells read per decode step, averaged over the TG steps (the cache grows by one per sequence)
    # (with -tgs each step decodes one sequence, reading only its own cells)
    separate = table["tg_separate"].astype(bool)
    mean_cells = np.where(table["pp_shared"].astype(bool) & table["kv_unified"].astype(bool),
                          table["pp"] + table["b"] * (table["tg"] - 1) / 2,
                          table["b"].where(~separate, 1) * (table["pp"] + (table["tg"] - 1) / 2))
    cell_bytes = [kv_bytes_per_cell(r) if pd.notna(r.model_n_layer) else np.nan
                  for r in table.itertuples()]
    read_per_step = table["model_decode_bytes"].astype(float) + mean_cells * np.asarray(cell_bytes, dtype=float)
    out["bytes_per_step"] = read_per_step
    out["bandwidth_gb_s"] = read_per_step * steps / table["t_tg"] / 1e9
    prompts = table["b"].where(~table["pp_shared"].astype(bool), 1)  # a shared prompt is computed once
    flop = 2 * (table["model_block_params"].astype(float) * prompt_tokens(table)
                + table["model_output_params"].astype(float) * prompts)
    out["flops_g"] = flop / table["t_pp"] / 1e9
    # the limits are the CPU's and its memory's: a run offloaded to a GPU is not compared with them
    offloaded = table["n_gpu_layers"].fillna(0).astype(float) > 0 if "n_gpu_layers" in table else False
    # each row against its own machine's limits (one set without `machines`)
    own = [limits_of(limits, m) for m in out["machine"]]
    own_host = pd.Series([entry.get("host_name") for entry in own], index=out.index)
    same_host = out["host_name"].notna() & (out["host_name"] == own_host) & ~offloaded
    out["bandwidth_limit_gb_s"] = np.where(same_host, [e.get("bandwidth_gb_s") or np.nan for e in own], np.nan)
    out["flops_limit_g"] = np.where(same_host, [e.get("flops_g") or np.nan for e in own], np.nan)
    out["bandwidth_pct"] = 100 * out["bandwidth_gb_s"] / out["bandwidth_limit_gb_s"]
    out["flops_pct"] = 100 * out["flops_g"] / out["flops_limit_g"]
    out["note"] = np.where(out["bandwidth_gb_s"].isna(), "model size or shape unknown (e.g. an imported row)",
                           np.where(same_host, "", np.where(offloaded, "offloaded to a GPU, whose limits were not "
                                                            "measured", "limits not measured on this row's host")))
    return out
