"""Every record (batchbench.record) into one typed table: results/<experiment>/runs.parquet."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from .files import atomic_path
from .record import SCHEMA_VERSION, flatten

# Column name -> type; the order is the table's order.
COLUMNS: dict[str, pa.DataType] = {
    "experiment": pa.string(), "model": pa.string(), "build": pa.string(), "machine": pa.string(),
    "rep": pa.int32(),
    "pp": pa.int32(), "tg": pa.int32(), "b": pa.int32(),
    "n_kv": pa.int64(), "t_pp": pa.float64(), "s_pp": pa.float64(), "t_tg": pa.float64(),
    "s_tg": pa.float64(), "t": pa.float64(), "s": pa.float64(),
    "status": pa.string(), "reason": pa.string(),
    # what was asked for
    "ctx": pa.int64(), "batch": pa.int32(), "ubatch": pa.int32(), "threads": pa.int32(),
    "threads_batch": pa.int32(), "n_gpu_layers": pa.int32(), "flash_attn": pa.string(),
    "cache_type_k": pa.string(), "cache_type_v": pa.string(), "pp_shared": pa.bool_(),
    "kv_unified": pa.bool_(), "tg_separate": pa.bool_(), "extra_args": pa.string(),
    # what llama.cpp reported it used
    "n_kv_max": pa.int64(), "llama_n_batch": pa.int32(), "llama_n_ubatch": pa.int32(),
    "llama_flash_attn": pa.int32(), "llama_n_gpu_layers": pa.int32(),
    "llama_n_threads": pa.int32(), "llama_n_threads_batch": pa.int32(),
    # how the job went
    "exit_code": pa.int32(), "signal": pa.int32(), "attempts": pa.int32(),
    "stderr_tail": pa.string(), "command": pa.string(),
    "start_time": pa.timestamp("us", tz="UTC"), "end_time": pa.timestamp("us", tz="UTC"),
    "wall_time_s": pa.float64(),
    # what surrounded the reported measurement (null where the machine has no such counter, and
    # for imported rows): the benchmark's CPU time and share of wall time x threads, its
    # involuntary context switches and major faults; the machine's CPU and memory pressure
    # (share of the wall time) and CPU steal (share of its CPU time); the verdict
    "cpu_time_s": pa.float64(), "cpu_threads": pa.int32(), "cpu_share": pa.float64(),
    "involuntary_switches": pa.int64(), "major_faults": pa.int64(),
    "cpu_pressure_some": pa.float64(), "cpu_pressure_full": pa.float64(),
    "memory_pressure_some": pa.float64(), "memory_pressure_full": pa.float64(), "cpu_steal": pa.float64(),
    "disturbed": pa.bool_(), "disturbed_reason": pa.string(), "remeasured": pa.int32(),
    # every attempt of the job (JSON): its result, counters and verdict
    "measurements": pa.string(),
    # k: the k-th measurement of the drift sentinel (run.sentinel_every); null for the grid's rows
    "sentinel": pa.int32(),
    # provenance
    "model_arch": pa.string(), "model_quant": pa.string(), "model_params": pa.int64(),
    "model_bytes": pa.int64(), "model_sha256": pa.string(), "model_path": pa.string(),
    "model_n_layer": pa.int32(), "model_n_embd": pa.int32(), "model_n_head_kv": pa.int32(),
    "model_head_dim": pa.int32(), "model_block_params": pa.int64(), "model_output_params": pa.int64(),
    "model_decode_bytes": pa.int64(),
    "build_version": pa.string(), "build_number": pa.int32(), "build_commit": pa.string(),
    "build_flags": pa.string(), "build_patches": pa.string(), "build_source": pa.string(),
    "host_name": pa.string(), "host_cpu": pa.string(), "host_cores": pa.int32(),
    "host_mem_bytes": pa.int64(), "host_governor": pa.string(), "host_load1": pa.float64(),
    "host_gpu": pa.string(), "host_gpu_driver": pa.string(),
    "job_scheduler": pa.string(), "job_id": pa.string(), "job_node": pa.string(),
    # where the row came from: a run of this workflow, or an imported log
    "imported": pa.bool_(), "source_file": pa.string(), "source_line": pa.int32(),
    # an imported log's llama_perf_context_print counters (JSON), for reconciling with its table
    "source_perf": pa.string(),
    # how an imported row's printed numbers disagree with each other (T != T_PP + T_TG, ...), if they do
    "inconsistent": pa.string(),
}
def runs_table(records: list[dict]) -> pa.Table:
    rows = [flatten(r) for r in records]
    schema = pa.schema(list(COLUMNS.items()),
                       metadata={"batchbench.schema_version": str(SCHEMA_VERSION)})
    return pa.Table.from_pylist(rows, schema=schema)


def read_records(paths: list[str]) -> list[dict]:
    records = []
    for path in paths:
        with open(path) as f:
            records.append(json.load(f))
    return records


def write_runs_table(record_paths: list[str], extra: list[dict], output: str) -> pa.Table:
    """Jobs' records, plus records made without a job (skipped combinations, imported rows)."""
    table = runs_table(read_records(record_paths) + list(extra))
    with atomic_path(output) as tmp:
        pq.write_table(table, tmp)
    return table
