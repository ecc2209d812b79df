"""Scale: a dry run of a 10,000-combination grid against Snakemake's dry run of 10,000 trivial
jobs, side by side; collecting 10,000 job records into Parquet; and analysing them (every
derived table) against the plain pandas median per combination of the same rows.

    python bench/scale.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import ROOT, default_config, median, run_snakefile, run_workflow

from batchbench.collect import write_runs_table
from batchbench.tables import derive

TRIVIAL_SNAKEFILE = """
rule all:
    input: [f"out/{i}.txt" for i in range(10000)]

rule touch_one:
    output: "out/{i}.txt"
    log: "logs/{i}.log"
    shell: "touch {output} 2> {log}"
"""


def cpu_seconds() -> float:
    """User and system CPU time of this script's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dry-run-only", action="store_true", help="skip the collect and analyse parts")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    config = default_config()
    config["experiment"] = "scale"
    config["grid"] = {**config["grid"], "npp": list(range(16, 16 * 26, 16)),
                      "ntg": list(range(8, 8 * 21, 8)), "npl": list(range(1, 21))}  # 25 x 20 x 20
    trivial = scratch / "trivial"
    trivial.mkdir()
    (trivial / "Snakefile").write_text(TRIVIAL_SNAKEFILE)

    ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
    for _ in range(args.rounds):
        before = cpu_seconds()
        ours.append(run_workflow(scratch / "ours", config, "-n"))
        ours_cpu.append(cpu_seconds() - before)
        before = cpu_seconds()
        theirs.append(run_snakefile(trivial / "Snakefile", trivial, "-n"))
        theirs_cpu.append(cpu_seconds() - before)
    print(f"dry run, 10,000 jobs (median of {args.rounds}): workflow {median(ours):.2f} s, "
          f"trivial Snakefile {median(theirs):.2f} s, ratio {median(ours) / median(theirs):.2f} "
          "(goal: <= 1.3)")
    # CPU seconds of the same runs: what a shared, busy machine does not stretch
    print(f"  CPU time of the same runs: workflow {median(ours_cpu):.2f} s, trivial Snakefile "
          f"{median(theirs_cpu):.2f} s, ratio {median(ours_cpu) / median(theirs_cpu):.2f}")

    if args.dry_run_only:
        return
    # 10,000 records as the job runner writes them (one real-shaped record, varied).
    record = json.loads((ROOT / "tests" / "fixtures" / "job-record.json").read_text())
    records_dir = scratch / "records"
    records_dir.mkdir()
    paths = []
    for i in range(10000):  # 10,000 distinct combinations, timings that grow with them
        pp, tg, b = 16 * (1 + i % 25), 8 * (1 + i // 25 % 20), 1 + i // 500
        t_pp, t_tg = 0.001 * b * pp + 0.01, 0.002 * tg * b**0.5
        record.update(pp=pp, tg=tg, b=b)
        record["metrics"].update(n_kv=(pp + tg) * b, t_pp=t_pp, s_pp=b * pp / t_pp, t_tg=t_tg, s_tg=b * tg / t_tg,
                                 t=t_pp + t_tg, s=(pp + tg) * b / (t_pp + t_tg))
        path = records_dir / f"{i}.json"
        path.write_text(json.dumps(record))
        paths.append(str(path))
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        table = write_runs_table(paths, [], str(scratch / "runs.parquet"))
        times.append(time.perf_counter() - start)
    print(f"collect 10,000 records into Parquet: {median(times):.2f} s, {table.num_rows} rows "
          "(goal: <= 10 s)")

    runs = pd.read_parquet(scratch / "runs.parquet")
    analysed, plain = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        tables = derive(runs, None)
        analysed.append(time.perf_counter() - start)
        start = time.perf_counter()
        runs[runs["status"] == "ok"].groupby(["model", "build", "pp", "tg", "b"])[["t_pp", "t_tg", "s"]].median()
        plain.append(time.perf_counter() - start)
    print(f"analyse 10,000 combinations (median of {args.rounds}): every derived table "
          f"{median(analysed):.2f} s ({len(tables['combinations'])} combinations), plain pandas median per "
          f"combination {median(plain):.3f} s")


if __name__ == "__main__":
    main()
