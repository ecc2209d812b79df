"""Interference: the default grid measured quiet (twice), with a CPU hog, and with a
memory-bandwidth hog, side by side in one run: how many disturbed jobs were detected, false
detections, and how far S_TG strayed from the quiet run with and without measuring again.

    python bench/interference.py [--hog-from 8] [--hog-jobs 6] [--npp 128 256 512] [--ntg ...] [--npl ...]

The CPU hog keeps every core busy (one spinning process per core); the bandwidth hog streams
through a 256 MiB array on one core. Each starts when `--hog-from` jobs have written their record
and stops `--hog-jobs` records later. A job overlapped a hog when its first measurement's time
span intersects the hog's. "Without measuring again" is each job's first measurement; "with" is
the row the job reports. Prints the counters of quiet and overlapped jobs too (how the limits
under `run:` were chosen).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from common import default_config, run_workflow


def spin() -> None:
    while True:
        pass


def stream() -> None:
    os.sched_setaffinity(0, {0})
    a, b = np.ones(32 * 2**20), np.empty(32 * 2**20)  # 2 x 256 MiB
    while True:
        np.copyto(b, a)


class Hog:
    """Started when the run has written `start` records, stopped `length` records later."""

    def __init__(self, kind: str, records: Path, start: int, length: int):
        self.kind, self.records, self.start, self.length = kind, records, start, length
        self.span: tuple[datetime, datetime] | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._done = threading.Event()
        self._thread.start()

    def _count(self) -> int:
        return sum(1 for _ in self.records.rglob("*.json")) if self.records.exists() else 0

    def _watch(self) -> None:
        while self._count() < self.start and not self._done.is_set():
            time.sleep(0.05)
        if self._done.is_set():
            return
        target = spin if self.kind == "cpu" else stream
        procs = [multiprocessing.Process(target=target, daemon=True)
                 for _ in range(os.cpu_count() if self.kind == "cpu" else 1)]
        begin = datetime.now(UTC)
        for p in procs:
            p.start()
        while self._count() < self.start + self.length and not self._done.is_set():
            time.sleep(0.05)
        for p in procs:
            p.kill()
            p.join()
        self.span = (begin, datetime.now(UTC))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def first_attempt(row) -> dict:
    return json.loads(row.measurements)[0]


def run(scratch: Path, name: str, config: dict, hog: str | None, args) -> tuple[pd.DataFrame, tuple | None]:
    work = scratch / name
    h = Hog(hog, work / "results" / name / "runs", args.hog_from, args.hog_jobs) if hog else None
    run_workflow(work, {**config, "experiment": name}, "--until", "runs_table")
    span = None
    if h:
        h.stop()
        span = h.span
    rows = pd.read_parquet(work / "results" / name / "runs.parquet")
    assert (rows["status"] == "ok").all(), rows[rows["status"] != "ok"][["pp", "tg", "b", "reason"]]
    first = [first_attempt(r) for r in rows.itertuples()]
    rows["first_s_tg"] = [a["metrics"]["s_tg"] for a in first]
    rows["first_disturbed"] = [bool(a["disturbed"]) for a in first]
    rows["first_cpu_share"] = [a["counters"]["cpu_share"] for a in first]
    rows["first_cpu_pressure"] = [a["counters"]["cpu_pressure_some"] for a in first]
    rows["first_start"] = [pd.Timestamp(a["start_time"]) for a in first]
    rows["first_end"] = [pd.Timestamp(a["end_time"]) for a in first]
    rows["overlapped"] = ([bool(s < span[1] and e > span[0]) for s, e in zip(rows["first_start"], rows["first_end"],
                                                                             strict=True)]
                          if span else False)
    return rows.set_index(["pp", "tg", "b"]).sort_index(), span


def deviation(rows: pd.DataFrame, quiet: pd.DataFrame, column: str) -> pd.Series:
    return (rows[column] / quiet["s_tg"] - 1).abs()


def spread(values: pd.Series) -> str:
    q = values.dropna().quantile([0, 0.1, 0.5, 0.9, 1]).to_numpy()
    return "min {:.3f}, p10 {:.3f}, median {:.3f}, p90 {:.3f}, max {:.3f}".format(*q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hog-from", type=int, default=8, help="records written before a hog starts")
    parser.add_argument("--hog-jobs", type=int, default=6, help="records written while it runs")
    for axis in ("npp", "ntg", "npl"):
        parser.add_argument(f"--{axis}", type=int, nargs="+", help=f"grid.{axis} (default: the default grid's)")
    args = parser.parse_args()
    config = default_config()
    config["grid"].update({axis: getattr(args, axis) for axis in ("npp", "ntg", "npl") if getattr(args, axis)})
    scratch = Path(tempfile.mkdtemp(prefix="bench-interference-"))
    runs = {}
    for name, hog in (("quiet1", None), ("cpuhog", "cpu"), ("quiet2", None), ("bwhog", "bandwidth")):
        runs[name] = run(scratch, name, config, hog, args)
        print(f"{name}: done", flush=True)
    quiet, _ = runs["quiet1"]
    base = deviation(runs["quiet2"][0], quiet, "s_tg")
    print(f"\n{len(quiet)} combinations; quiet run 2 against quiet run 1: |S_TG ratio - 1| median "
          f"{base.median():.1%}, largest {base.max():.1%}")
    for name in ("quiet1", "quiet2"):
        rows = runs[name][0]
        still = int(rows["disturbed"].astype(bool).sum())
        print(f"{name}: false detections {int(rows['first_disturbed'].sum())} of {len(rows)} first measurements, "
              f"{still} rows still disturbed; cpu_share {spread(rows['first_cpu_share'])}; "
              f"cpu_pressure {spread(rows['first_cpu_pressure'])}")
    for name in ("cpuhog", "bwhog"):
        rows, span = runs[name]
        over = rows[rows["overlapped"]]
        without, with_ = deviation(rows, quiet, "first_s_tg"), deviation(rows, quiet, "s_tg")
        outside = int(rows.loc[~rows["overlapped"], "first_disturbed"].sum())
        print(f"{name}: hog {span[0]:%H:%M:%S}-{span[1]:%H:%M:%S}; {len(over)} jobs overlapped it, "
              f"{int(over['first_disturbed'].sum())} detected; {outside} detections outside it; "
              f"{int(rows['remeasured'].fillna(0).gt(0).sum())} measured again, "
              f"{int(rows['disturbed'].astype(bool).sum())} still disturbed")
        print(f"  |S_TG / S_TG(quiet1) - 1| without measuring again: median {without.median():.1%}, largest "
              f"{without.max():.1%}; with: median {with_.median():.1%}, largest {with_.max():.1%}")
        if len(over):
            print(f"  overlapped jobs' first measurement: cpu_share {spread(over['first_cpu_share'])}; "
                  f"cpu_pressure {spread(over['first_cpu_pressure'])}")
    print(f"\n(scratch folder: {scratch})")


if __name__ == "__main__":
    main()
