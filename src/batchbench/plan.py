"""The plan of a study before anything runs: each job's rough time and memory, the rows of
plan.tsv, the summary printed at every start, and the note for a grid too large to plan fast."""

from __future__ import annotations

import functools
import math

from .record import SKIPPED

# Assumed machine speeds for the plan's rough time estimate (the run measures the real ones).
ASSUMED_FLOPS = 50e9
ASSUMED_BANDWIDTH = 10e9
# CPU seconds Snakemake takes to plan one benchmark job (measured on a shared 2-core host: 15 s
# for 10,000 jobs in bench/scale.py, 135-162 s for 100,000), and to read the grid again when a cluster
# job starts (1.5 s and 20 us a job: 3.3 s for 100,000); the grid size from which the plan says so
# before it starts.
PLAN_SECONDS_PER_JOB = 0.0016
PARSE_SECONDS = 1.5
PARSE_SECONDS_PER_JOB = 0.00002
LARGE_GRID = 20000


def seconds_estimate(model, job) -> float:
    """A rough time of a grid.Job with its models.Model: prompt FLOPs and weight bytes per
    generation step at assumed speeds."""
    prompt_tokens = job.pp if job.option_map.get("pp_shared") else job.b * job.pp
    steps = job.tg * (job.b if job.option_map.get("tg_separate") else 1)
    return (2 * model.shape.n_params_matmul * (prompt_tokens + job.b * job.tg) / ASSUMED_FLOPS
            + steps * model.bytes / ASSUMED_BANDWIDTH)


def _seconds(study, job) -> float:
    return seconds_estimate(study.model_by_dir[job.model_dir], job)


def rows(study) -> list[dict]:
    """plan.tsv: every job of a study.Study, and every skipped combination with why."""
    out = []
    for job in study.jobs + study.skipped:
        c, allocated, needed = job.context()
        reason = job.skip_reason()
        out.append({
            **({"machine": job.machine} if job.machine is not None else {}),
            "model": job.model, "build": job.build, "options": job.opts_slug, "pp": job.pp,
            "tg": job.tg, "b": job.b, "rep": job.rep, "ctx": c, "n_kv": needed,
            "n_kv_max": allocated, "status": SKIPPED if reason else "planned",
            "reason": reason or "", "mem_mb": math.ceil(study.memory_bytes(job) / 2**20),
            "est_seconds": round(_seconds(study, job), 2),
        })
    return out


@functools.cache  # the workflow prints it and writes it: once per parse
def summary(study) -> str:
    est = sum(_seconds(study, j) for j in study.jobs)
    peak = max((study.memory_bytes(j) for j in study.jobs), default=0)
    return (f"plan for experiment {study.experiment!r}: {len(study.jobs)} benchmark jobs "
            f"({len(study.models)} model(s) x {len(study.builds)} build(s)"
            f"{f' x {len(study.machines)} machine(s)' if study.machine_axis else ''}), {len(study.skipped)} "
            f"combination(s) skipped (too large for grid.ctx), peak memory ~{peak / 2**30:.1f} GiB, "
            f"rough time ~{est / 60:.0f} min at an assumed {ASSUMED_FLOPS / 1e9:.0f} GFLOP/s and "
            f"{ASSUMED_BANDWIDTH / 1e9:.0f} GB/s" + skipped_lines(study))


def planning_note(study) -> str:
    """For a large grid, how long Snakemake will take to plan it and how to split it."""
    if len(study.jobs) < LARGE_GRID:
        return ""
    n = len(study.jobs)
    return (f"{n} benchmark jobs: Snakemake needs about {duration(n * PLAN_SECONDS_PER_JOB)} of one core to "
            "plan them, at every start (a cluster job's own start reads the grid again: about "
            f"{duration(PARSE_SECONDS + n * PARSE_SECONDS_PER_JOB)}). To plan faster, split the grid into "
            f"experiments of fewer than {LARGE_GRID} jobs each (one config each, e.g. one `npl` range per "
            "`experiment`, compared with `analysis.compare_with`).")


def duration(seconds: float) -> str:
    """`45 s`, `4 min`: a rough duration in words."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def skipped_lines(study, most: int = 10) -> str:
    """The skipped combinations and why (the first few; plan.tsv has them all)."""
    lines = [f"\n  skipped: PP={j.pp} TG={j.tg} B={j.b} ({j.opts_slug}): {j.skip_reason()}"
             for j in study.skipped[:most]]
    if len(study.skipped) > most:
        lines.append(f"\n  ... and {len(study.skipped) - most} more in plan.tsv")
    return "".join(lines)
