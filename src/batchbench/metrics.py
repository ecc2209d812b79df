"""The names of what llama-batched-bench measures and reports, as this workflow's columns.

Light on imports on purpose: the job runner imports it.
"""

from __future__ import annotations

# The combination, then what was measured: a result row's columns (the seed's names in lower
# case), in the order llama-batched-bench prints them.
COMBINATION = ("pp", "tg", "b")
MEASURED = ("n_kv", "t_pp", "s_pp", "t_tg", "s_tg", "t", "s")
METRICS = COMBINATION + MEASURED
INT_METRICS = frozenset({"pp", "tg", "b", "n_kv"})
# What llama.cpp reports of the context it used (its header line, or fields of each JSONL line).
CONFIG_KEYS = ("n_kv_max", "n_batch", "n_ubatch", "flash_attn", "is_pp_shared", "n_gpu_layers",
               "n_threads", "n_threads_batch")
# Of those, the settings a record keeps as columns (`llama_<name>`): what llama.cpp really used.
LLAMA_REPORTED = ("n_batch", "n_ubatch", "flash_attn", "n_gpu_layers", "n_threads", "n_threads_batch")
