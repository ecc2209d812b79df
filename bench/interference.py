"""Interference: the default grid measured quiet (twice), with a CPU hog, and with a
memory-bandwidth hog, side by side in one run: how many disturbed jobs were detected, false
detections, and how far S_TG strayed from the quiet run with and without measuring again.

    python bench/interference.py [--hog-from 8] [--hog-jobs 3] [--npp 128 256 512] [--ntg ...] [--npl ...]

The CPU hog keeps every core busy (one spinning process per core); the bandwidth hog streams
through a 256 MiB array on one core. Each starts with a fixed job, when job `--hog-from` + 1 (in
the run's order) starts, and lasts a fixed time: as long as `--hog-jobs` jobs from that one took
in the first quiet run, a burst of known length. It is bounded in time, not by what the runner
does, so the runner's answer to it (a bounded wait, then measuring again) is what is measured.

A job overlapped a hog when its first measurement's time span intersects the hog's. "Without
measuring again" is each job's first measurement; "with" is the row the job reports. Prints the
counters of quiet and overlapped measurements too (how the limits under `run:` were chosen).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from common import default_config, run_workflow

GOAL_LARGEST = 0.15  # the issue's: after measuring again, no combination more than 15% off


def spin() -> None:
    while True:
        pass


def stream() -> None:
    os.sched_setaffinity(0, {0})
    a, b = np.ones(32 * 2**20), np.empty(32 * 2**20)  # 2 x 256 MiB
    while True:
        np.copyto(b, a)


class Hog:
    """Started when the run's job number `after` + 1 starts (its log appears), stopped `seconds`
    later."""

    def __init__(self, kind: str, logs: Path, after: int, seconds: float):
        self.kind, self.logs, self.after, self.seconds = kind, logs, after, seconds
        self.span: tuple[datetime, datetime] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _started_jobs(self) -> int:
        return sum(1 for _ in self.logs.rglob("*.log")) if self.logs.exists() else 0

    def _watch(self) -> None:
        while self._started_jobs() <= self.after:
            if self._done.wait(0.02):
                return
        target = spin if self.kind == "cpu" else stream
        procs = [multiprocessing.Process(target=target, daemon=True)
                 for _ in range(os.cpu_count() if self.kind == "cpu" else 1)]
        begin = datetime.now(UTC)
        for p in procs:
            p.start()
        self._done.wait(self.seconds)
        for p in procs:
            p.kill()
            p.join()
        self.span = (begin, datetime.now(UTC))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def attempts(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement that gave a result: its job, number, time span, S_TG, verdict,
    counters and the wait before it."""
    out = []
    for (pp, tg, b), row in rows.iterrows():
        for a in json.loads(row["measurements"]):
            if a["status"] != "ok":
                continue
            c, wait = a["counters"], a.get("wait") or {}
            out.append({"pp": pp, "tg": tg, "b": b, "attempt": a["attempt"],
                        "start": pd.Timestamp(a["start_time"]), "end": pd.Timestamp(a["end_time"]),
                        "s_tg": a["metrics"]["s_tg"], "disturbed": bool(a["disturbed"]),
                        "cpu_share": c["cpu_share"], "cpu_pressure": c["cpu_pressure_some"],
                        "waited_s": wait.get("waited_s"), "wait_quiet": wait.get("quiet")})
    return pd.DataFrame(out)


def beside(att: pd.DataFrame, span: tuple | None) -> pd.Series:
    """Share of each measurement's time the hog was running (0 without a hog)."""
    if span is None or att.empty:
        return pd.Series(0.0, index=att.index)
    lo, hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    inside = (att["end"].clip(upper=hi) - att["start"].clip(lower=lo)).dt.total_seconds().clip(lower=0)
    return inside / (att["end"] - att["start"]).dt.total_seconds()


def run(scratch: Path, name: str, config: dict, hog: tuple[str, int, float] | None) -> dict:
    work = scratch / name
    h = Hog(hog[0], work / "logs" / name / "bench_run", hog[1], hog[2]) if hog else None
    try:
        run_workflow(work, {**config, "experiment": name}, "--until", "runs_table")
    finally:
        if h:
            h.stop()
    rows = pd.read_parquet(work / "results" / name / "runs.parquet")
    assert (rows["status"] == "ok").all(), rows[rows["status"] != "ok"][["pp", "tg", "b", "reason"]]
    rows = rows.set_index(["pp", "tg", "b"]).sort_index()
    att = attempts(rows)
    att["beside"] = beside(att, h.span if h else None)
    first = att[att["attempt"] == att.groupby(["pp", "tg", "b"])["attempt"].transform("min")]
    first = first.set_index(["pp", "tg", "b"]).sort_index()
    return {"rows": rows, "attempts": att, "first": first, "span": h.span if h else None,
            "order": rows.sort_values("start_time")}


def hog_seconds(quiet: dict, after: int, jobs: int) -> float:
    """How long `jobs` jobs from job `after` + 1 on took in the quiet run (a burst of that many
    quiet jobs)."""
    order = quiet["order"]
    if after + jobs > len(order):
        raise SystemExit(f"--hog-from {after} --hog-jobs {jobs}: the grid has {len(order)} jobs")
    start, end = order["start_time"].iloc[after], order["end_time"].iloc[after + jobs - 1]
    return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()


def percent(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.1%}"


def spread(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    q = values.quantile([0, 0.1, 0.5, 0.9, 1]).to_numpy()
    return "min {:.3f}, p10 {:.3f}, median {:.3f}, p90 {:.3f}, max {:.3f}".format(*q)


def summary(r: dict, quiet: dict | None) -> dict:
    """The table's column of one run (`quiet`: the reference run, None for itself)."""
    rows, first, att = r["rows"], r["first"], r["attempts"]
    hogged = r["span"] is not None
    over = first["beside"] > 0
    waits = att["waited_s"].dropna()
    col = {
        "jobs": len(rows),
        "hog (s)": f"{(r['span'][1] - r['span'][0]).total_seconds():.1f}" if hogged else "-",
        "jobs overlapping the hog": int(over.sum()) if hogged else "-",
        "  of them detected": int(first.loc[over, "disturbed"].sum()) if hogged else "-",
        "detections outside it (quiet: false)": int(first.loc[~over, "disturbed"].sum()),
        "measured again": int(rows["remeasured"].fillna(0).gt(0).sum()),
        "  waits before (quiet at end)": f"{len(waits)} ({int(att['wait_quiet'].eq(True).sum())})",
        "  wait median / largest (s)": f"{waits.median():.1f} / {waits.max():.1f}" if len(waits) else "-",
        "still disturbed": int(rows["disturbed"].astype(bool).sum()),
    }
    if quiet is None:
        dev_without = dev_with = pd.Series(dtype=float)
    else:
        dev_without = (first["s_tg"] / quiet["rows"]["s_tg"] - 1).abs()
        dev_with = (rows["s_tg"] / quiet["rows"]["s_tg"] - 1).abs()
    col.update({
        "|S_TG/S_TG(quiet1) - 1|, first measurement: median": percent(dev_without.median()),
        "  largest": percent(dev_without.max()),
        "|S_TG/S_TG(quiet1) - 1|, reported row: median": percent(dev_with.median()),
        "  largest (goal <= 15%)": percent(dev_with.max()),
    })
    return col | {"_without": dev_without, "_with": dev_with}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hog-from", type=int, default=8,
                        help="jobs started before a hog starts (it starts with the next)")
    parser.add_argument("--hog-jobs", type=int, default=3,
                        help="the hog lasts as long as this many jobs took in the first quiet run")
    for axis in ("npp", "ntg", "npl"):
        parser.add_argument(f"--{axis}", type=int, nargs="+", help=f"grid.{axis} (default: the default grid's)")
    args = parser.parse_args()
    config = default_config()
    config["grid"].update({axis: getattr(args, axis) for axis in ("npp", "ntg", "npl") if getattr(args, axis)})
    grid = config["grid"]
    jobs = len(grid["npp"]) * len(grid["ntg"]) * len(grid["npl"]) * grid.get("repetitions", 1)
    if args.hog_from < 0 or args.hog_jobs < 1 or args.hog_from + args.hog_jobs > jobs:
        parser.error(f"--hog-from {args.hog_from} --hog-jobs {args.hog_jobs}: the grid has {jobs} jobs")
    scratch = Path(tempfile.mkdtemp(prefix="bench-interference-"))
    runs = {"quiet1": run(scratch, "quiet1", config, None)}
    seconds = hog_seconds(runs["quiet1"], args.hog_from, args.hog_jobs)
    first, last = args.hog_from + 1, args.hog_from + args.hog_jobs
    print(f"quiet1: done; each hog starts with job {first} of {len(runs['quiet1']['rows'])} and lasts {seconds:.1f} s "
          f"(job{f's {first}-{last}' if last > first else f' {first}'} in quiet1)", flush=True)
    for name, hog in (("cpuhog", "cpu"), ("quiet2", None), ("bwhog", "bandwidth")):
        runs[name] = run(scratch, name, config, (hog, args.hog_from, seconds) if hog else None)
        print(f"{name}: done", flush=True)

    quiet = runs["quiet1"]
    table = {name: summary(r, None if name == "quiet1" else quiet) for name, r in runs.items()}
    labels = [k for k in table["quiet1"] if not k.startswith("_")]
    width = max(map(len, labels))
    print(f"\n{'':{width}}" + "".join(f"{name:>12}" for name in table))
    for label in labels:
        print(f"{label:{width}}" + "".join(f"{str(col[label]):>12}" for col in table.values()))
    base = table["quiet2"]["_without"]
    print(f"\nquiet run 2 against quiet run 1 (the quiet-vs-quiet difference): |S_TG ratio - 1| median "
          f"{percent(base.median())}, largest {percent(base.max())}")

    print("\ngoals:")
    for name in ("cpuhog", "bwhog"):
        col, first = table[name], runs[name]["first"]
        print(f"  {name}: every overlapped job detected: "
              f"{'yes' if col['  of them detected'] == col['jobs overlapping the hog'] else 'no'}; "
              f"median after measuring again {percent(col['_with'].median())} <= quiet-vs-quiet "
              f"{percent(base.median())}: {'yes' if col['_with'].median() <= base.median() else 'no'}; "
              f"none over {GOAL_LARGEST:.0%}: {'yes' if col['_with'].max() <= GOAL_LARGEST else 'no'}")
        for key, f in first[first["beside"] > 0].iterrows():
            print(f"    overlapped pp{key[0]} tg{key[1]} b{key[2]}: first measurement {f['beside']:.0%} beside the "
                  f"hog, cpu_share {f['cpu_share']:.2f}, cpu_pressure {f['cpu_pressure']:.2f}, "
                  f"{'disturbed' if f['disturbed'] else 'NOT detected'}; "
                  f"S_TG off by {abs(f['s_tg'] / quiet['rows'].loc[key, 's_tg'] - 1):.0%} first, "
                  f"{abs(runs[name]['rows'].loc[key, 's_tg'] / quiet['rows'].loc[key, 's_tg'] - 1):.0%} reported")
        att = runs[name]["attempts"]
        missed = att[(att["beside"] > 0) & ~att["disturbed"]]
        for _, a in missed.iterrows():
            print(f"    not detected: pp{a['pp']} tg{a['tg']} b{a['b']} attempt {a['attempt']}, "
                  f"{a['beside']:.0%} of it beside the hog (cpu_share {a['cpu_share']:.2f}, "
                  f"cpu_pressure {a['cpu_pressure']:.2f})")
    false = sum(table[n]["detections outside it (quiet: false)"] for n in ("quiet1", "quiet2"))
    print(f"  no detection in the quiet runs: {'yes' if false == 0 else f'no ({false})'}")

    print("\ncounters of the first measurements (how the limits under run: were chosen):")
    for name, r in runs.items():
        first = r["first"]
        for label, part in (("quiet", first[first["beside"] == 0]), ("beside the hog", first[first["beside"] > 0])):
            if len(part) and (label == "quiet" or r["span"]):
                print(f"  {name} {label} ({len(part)}): cpu_share {spread(part['cpu_share'])}; "
                      f"cpu_pressure {spread(part['cpu_pressure'])}")
    print(f"\n(scratch folder: {scratch})")


if __name__ == "__main__":
    main()
