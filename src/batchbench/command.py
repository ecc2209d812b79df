"""The argument list of one llama-batched-bench process (never a shell string)."""

from __future__ import annotations

from .grid import OPTIONS


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
