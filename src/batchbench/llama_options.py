"""llama-batched-bench's options: the flag of each grid key, the flags the workflow sets itself,
and the argument list of one process (never a shell string).

Light on imports on purpose: the job runner imports it.
"""

from __future__ import annotations

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
# The options that are switches (given or not), and flash attention's values.
SWITCHES = ("pp_shared", "kv_unified", "tg_separate")
FLASH_ATTN = ("on", "off", "auto")
# The options a record keeps as columns of their own (-c is the record's `ctx`, sized per job).
OPTION_COLUMNS = tuple(key for key in OPTIONS if key != "ctx")
# Flags the workflow sets itself (the grid's options included); extra arguments may not repeat them.
RESERVED_FLAGS = ("-m", "--model", "-c", "--ctx-size", "-npp", "-ntg", "-npl", "--output-format",
                  "-b", "--batch-size", "-ub", "--ubatch-size", "-t", "--threads", "-tb", "--threads-batch",
                  "-ngl", "--gpu-layers", "--n-gpu-layers", "-fa", "--flash-attn", "-ctk", "--cache-type-k",
                  "-ctv", "--cache-type-v", "-pps", "-kvu", "--kv-unified", "-tgs")


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
