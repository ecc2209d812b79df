"""A job's record: the JSON file each benchmark job writes, and the rows made without a job.

Three kinds, one shape: measured (a job of this run, bench_job), skipped (a combination too large
for its context, never run) and imported (a row of someone's log). `flatten` turns any of them
into one row of the runs table (collect.COLUMNS).

Light on imports on purpose: the job runner imports it.
"""

from __future__ import annotations

import json

from .llama_options import OPTION_COLUMNS, SWITCHES
from .metrics import LLAMA_REPORTED, MEASURED

# The record's (and the runs table's) schema; 2: counters of the surroundings, `disturbed`.
SCHEMA_VERSION = 2
# Versions this code reads (version 1 records have the same keys, some of them absent).
READABLE = range(1, SCHEMA_VERSION + 1)

OK, SKIPPED, FAILED, TIMEOUT = "ok", "skipped", "failed", "timeout"
STATUSES = (OK, SKIPPED, FAILED, TIMEOUT)

# record's counters key -> column
COUNTER_COLUMNS = {"cpu_time_s": "cpu_time_s", "threads": "cpu_threads", "cpu_share": "cpu_share",
                   "involuntary_switches": "involuntary_switches", "major_faults": "major_faults",
                   "cpu_pressure_some": "cpu_pressure_some", "cpu_pressure_full": "cpu_pressure_full",
                   "memory_pressure_some": "memory_pressure_some",
                   "memory_pressure_full": "memory_pressure_full", "cpu_steal": "cpu_steal"}


def measured(spec: dict, command: list[str], host: dict, model_info: dict, build_info: dict,
             policy: dict) -> dict:
    """What a benchmark job's record says before it runs: the job, its command and where it
    runs; bench_job adds how it went (status, reason, metrics, counters, attempts)."""
    return {
        "schema_version": SCHEMA_VERSION,
        **{k: spec[k] for k in ("experiment", "model", "build", "pp", "tg", "b", "rep", "ctx")},
        "machine": spec.get("machine"),  # the config's name of the machine (None without `machines`)
        "sentinel": spec.get("sentinel"),
        "options": spec["options"],
        "extra_args": spec["extra_args"],
        "command": command,
        **host,
        "model_info": model_info,
        "build_info": build_info,
        "run_policy": policy,
    }


def skipped(experiment: str, job) -> dict:
    """A grid.Job too large for its context: never run, its row says why."""
    c, allocated, needed = job.context()
    return {"schema_version": SCHEMA_VERSION, "experiment": experiment, "model": job.model,
            "build": job.build, **({"machine": job.machine} if job.machine is not None else {}),
            "pp": job.pp, "tg": job.tg, "b": job.b,
            "rep": job.rep, "ctx": c, "options": job.option_map,
            "extra_args": list(job.extra_args), "status": SKIPPED,
            "reason": job.skip_reason(), "metrics": {"n_kv": needed, "n_kv_max": allocated}}


def imported(experiment: str, model: str, source_file: str, ctx: int | None, options: dict,
             perf: dict | None, combination: dict, status: str, reason: str, source_line: int | None,
             metrics: dict, inconsistent: str | None = None) -> dict:
    """A row of an imported log (or a combination its command asked for that it lacks)."""
    return {"schema_version": SCHEMA_VERSION, "experiment": experiment, "model": model,
            "build": "imported", "rep": 1, "imported": True, "source_file": source_file,
            "options": options, "ctx": ctx, "perf": perf,
            **{k: combination[k] for k in ("pp", "tg", "b")}, "status": status, "reason": reason,
            "source_line": source_line, "metrics": metrics, "inconsistent": inconsistent}


def check_version(record: dict) -> None:
    version = record.get("schema_version")
    if version not in READABLE:
        raise ValueError(f"a record of schema version {version!r} (of {record.get('experiment')!r}, "
                         f"PP={record.get('pp')} TG={record.get('tg')} B={record.get('b')}): this "
                         f"workflow reads versions {READABLE.start} to {READABLE.stop - 1}")


def _json(value) -> str | None:
    return None if value is None else json.dumps(value)


def _time(value: str | None):
    from datetime import datetime  # not in the job runner, which imports this module

    return datetime.fromisoformat(value) if value else None


def flatten(record: dict) -> dict:
    """One record (of any kind) -> one row of the runs table (collect.COLUMNS)."""
    check_version(record)
    metrics = record.get("metrics") or {}
    options = record.get("options") or {}
    model = record.get("model_info") or {}
    build = record.get("build_info") or {}
    row = {k: record.get(k) for k in ("experiment", "model", "build", "machine", "rep", "pp", "tg", "b",
                                     "ctx", "status", "reason", "exit_code", "signal", "attempts",
                                     "stderr_tail", "wall_time_s", "host_name", "host_cpu",
                                     "host_cores", "host_mem_bytes", "host_governor", "host_load1",
                                     "host_gpu", "host_gpu_driver", "job_scheduler", "job_id",
                                     "job_node")}
    row.update({k: metrics.get(k) for k in (*MEASURED, "n_kv_max")})
    row.update({k: options.get(k) for k in OPTION_COLUMNS})
    counters = record.get("counters") or {}
    row.update({column: counters.get(key) for key, column in COUNTER_COLUMNS.items()})
    row.update({k: record.get(k) for k in ("disturbed", "disturbed_reason", "remeasured", "sentinel")})
    row["measurements"] = _json(record.get("measurements"))
    row.update({f"llama_{k}": metrics.get(k) for k in LLAMA_REPORTED})
    row.update({
        "extra_args": _json(record.get("extra_args") or None),
        "command": _json(record.get("command")),
        "start_time": _time(record.get("start_time")),
        "end_time": _time(record.get("end_time")),
        "model_arch": model.get("arch"), "model_quant": model.get("quant"),
        "model_params": model.get("n_params"), "model_bytes": model.get("bytes"),
        "model_sha256": model.get("sha256"), "model_path": model.get("path"),
        "model_n_layer": model.get("n_layer"), "model_n_embd": model.get("n_embd"),
        "model_n_head_kv": model.get("n_head_kv"), "model_head_dim": model.get("head_dim"),
        "model_block_params": model.get("block_params"), "model_output_params": model.get("output_params"),
        "model_decode_bytes": model.get("decode_bytes"),
        "build_version": build.get("version"), "build_number": build.get("build_number"),
        "build_commit": build.get("commit"), "build_flags": _json(build.get("cmake_flags")),
        "build_patches": _json(build.get("patches")), "build_source": _json(build.get("source")),
        "imported": bool(record.get("imported")),
        "source_file": record.get("source_file"),
        "source_line": record.get("source_line"),
        "source_perf": _json(record.get("perf")),
        "inconsistent": record.get("inconsistent") or None,
    })
    for key in SWITCHES:
        row[key] = bool(row[key])
    return row
