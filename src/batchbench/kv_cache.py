"""How much KV cache a combination needs, and how much llama.cpp really allocates.

Mirrors `src/llama-context.cpp` (llama.cpp 0c1e570): n_ctx is padded to a multiple of 256 and,
without a unified KV cache, each of the n_seq_max sequences gets pad256(n_ctx / n_seq_max)
cells, so `-c 2048` with 16 sequences really holds 4096 cells.
"""

from __future__ import annotations

PAD = 256

# Bytes per element of the KV cache types llama.cpp accepts for -ctk/-ctv.
CACHE_TYPE_BYTES = {
    "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "q4_1": 20 / 32,
    "iq4_nl": 18 / 32, "q5_0": 22 / 32, "q5_1": 24 / 32,
}


def pad(n: int, multiple: int = PAD) -> int:
    return (n + multiple - 1) // multiple * multiple


def cells_needed(pp: int, tg: int, b: int, pp_shared: bool = False, kv_unified: bool = False) -> int:
    """N_KV as batched-bench computes it: the cells the combination fills."""
    if pp_shared:
        return (pp if kv_unified else b * pp) + b * tg
    return b * (pp + tg)


def cells_allocated(n_ctx: int, n_seq: int, kv_unified: bool = False) -> int:
    """The context llama.cpp allocates for `-c n_ctx` and n_seq sequences (its n_kv_max)."""
    total = pad(n_ctx)
    if kv_unified:
        return total
    per_seq = pad(total // n_seq)
    return per_seq * n_seq


def context_for(pp: int, tg: int, b: int, ctx: int | str, pp_shared: bool = False,
                kv_unified: bool = False) -> tuple[int, int, int]:
    """(value for -c, cells allocated, cells needed) for one combination run as its own process.

    ctx is "auto" (just what the combination needs) or a fixed -c value.
    """
    needed = cells_needed(pp, tg, b, pp_shared, kv_unified)
    c = needed if ctx == "auto" else int(ctx)
    return c, cells_allocated(c, b, kv_unified), needed


def kv_cache_bytes(n_layer: int, n_cells: int, n_head_kv: int, head_dim: int,
                   cache_type_k: str = "f16", cache_type_v: str = "f16") -> int:
    """Bytes of the K and V caches: layers x cells x (K + V width) x bytes of the cache type."""
    width = n_head_kv * head_dim
    per_cell = width * (CACHE_TYPE_BYTES[cache_type_k] + CACHE_TYPE_BYTES[cache_type_v])
    return int(n_layer * n_cells * per_cell)
