"""The job runner's own cost: `python -m batchbench.bench_job` around a stand-in binary that prints
one result line at once, against the same stand-in run bare, alternated; CPU time (user + system
of the process tree) and wall time per job, medians.

    python bench/runner.py [--rounds 25] [--compare OTHER_CHECKOUT]

With --compare, the runner of another checkout (its src/) is timed in the same rounds, e.g. the
main branch's before a change. This checkout's package is compiled first, as the workflow does at
every start where Python caches no compiled modules itself (PYTHONDONTWRITEBYTECODE); the other
is timed as it is.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

SPEC = {"experiment": "e", "model": "m", "build": "b", "pp": 64, "tg": 32, "b": 2, "rep": 1, "ctx": 192,
        "options": {"batch": 2048}, "extra_args": []}
RESULT = ('{"n_kv_max": 512, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, '
          '"n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 64, "tg": 32, "pl": 2, "n_kv": 192, '
          '"t_pp": 0.1, "speed_pp": 1280.0, "t_tg": 0.2, "speed_tg": 320.0, "t": 0.3, "speed": 640.0}')


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(CPU seconds of the process tree, wall seconds) of one run."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--compare", type=Path, help="another checkout whose runner to time alongside")
    args = parser.parse_args()
    if sys.dont_write_bytecode:
        compileall.compile_dir(str(ROOT / "src" / "batchbench"), quiet=2)
    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    binary = work / "llama-batched-bench"
    binary.write_text(f"#!/bin/sh\necho '{RESULT}'\n")
    binary.chmod(0o755)
    (work / "setup.json").write_text(json.dumps({"build": {"batched_bench": str(binary), "supports_jsonl": True},
                                                 "model": {"path": str(work / "m.gguf"), "name": "m"}}))
    # one attempt: a stand-in on a busy machine would be judged disturbed and measured again
    policy = {"BATCHBENCH_RUN_POLICY": json.dumps({"remeasure": 0})}
    sides = {"this checkout": ROOT, **({f"{args.compare}": args.compare.resolve()} if args.compare else {})}
    runs = {name: [] for name in [*sides, "bare stand-in"]}
    for _ in range(args.rounds):
        for name, checkout in sides.items():
            env = {**os.environ, **policy, "PYTHONPATH": str(checkout / "src")}
            runs[name].append(timed([sys.executable, "-m", "batchbench.bench_job", "--spec", json.dumps(SPEC),
                                     "--setup", str(work / "setup.json"), "--output", str(work / "out.json"),
                                     "--log", str(work / "job.log")], env))
        runs["bare stand-in"].append(timed(["sh", "-c", f"{binary} > {work / 'out.jsonl'} 2> {work / 'job2.log'}"],
                                           dict(os.environ)))
    print(f"per job, median of {args.rounds} alternated rounds:")
    for name, samples in runs.items():
        print(f"  {name}: CPU {1000 * statistics.median(c for c, _ in samples):.1f} ms, "
              f"wall {1000 * statistics.median(w for _, w in samples):.1f} ms")


if __name__ == "__main__":
    main()
