"""The argument list of one llama-batched-bench process (never a shell string)."""

from __future__ import annotations

# Here, not in grid, so the job runner imports only this light module.
# Config key -> (llama-batched-bench flag, short name used in result paths), in path order.
OPTIONS: dict[str, tuple[str, str]] = {
    "ctx": ("-c", "c"),
    "batch": ("-b", "b"),
    "ubatch": ("-ub", "ub"),
    "threads": ("-t", "t"),
    "threads_batch": ("-tb", "tb"),
    "n_gpu_layers": ("-ngl", "ngl"),
    "flash_attn": ("-fa", "fa"),
    "cache_type_k": ("-ctk", "ctk"),
    "cache_type_v": ("-ctv", "ctv"),
    "pp_shared": ("-pps", "pps"),
    "kv_unified": ("-kvu", "kvu"),
    "tg_separate": ("-tgs", "tgs"),
}


def bench_argv(binary: str, model_path: str, pp: int, tg: int, b: int, ctx: int,
               options: dict, extra_args: list[str] = (), jsonl: bool = True) -> list[str]:
    """One combination: exactly one -npp/-ntg/-npl, -c sized by the caller."""
    argv = [binary, "-m", model_path, "-c", str(ctx), "-npp", str(pp), "-ntg", str(tg),
            "-npl", str(b)]
    for key, (flag, _) in OPTIONS.items():
        value = options.get(key)
        if key == "ctx" or value is None or value is False:
            continue
        argv += [flag] if value is True else [flag, str(value)]
    argv += list(extra_args)
    if jsonl:
        argv += ["--output-format", "jsonl"]
    return argv
