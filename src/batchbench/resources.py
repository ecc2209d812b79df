"""What each cluster job asks the scheduler for, computed from what the job does.

The rules only call these, so a command-line `--set-resources` or a profile never has to restate
anything for a job to stay consistent: the CPUs a job step uses are those its allocation holds,
exclusivity is the rule's own, and every limit covers what the job can really use.
"""

from __future__ import annotations

import math
import os

from .deadline import MARGIN_S
from .kv_cache import kv_cache_bytes

# A timing must not share its node (the benchmarks and the machine's limits).
EXCLUSIVE = "--exclusive"
# Seconds a cluster job spends outside the benchmark: Snakemake starting inside the job,
# reading the setup, writing the record, the scheduler's own start-up.
JOB_OVERHEAD_S = 300
# Peak resident memory, measured (README, "On a SLURM cluster"): one C++ compiler process of
# llama.cpp's build peaked at 663 MiB, the streaming synthesis at 47 MiB (Qwen3-8B too).
COMPILE_PEAK_MB = 1024
BUILD_BASE_MB = 512
SYNTH_PEAK_MB = 512
# llama-quantize reads one tensor at a time: its F16 values, their F32 conversion and the output
# (2 + 4 + at most 2 bytes a value), measured 1056 MiB for Qwen3-0.6B (largest tensor 156M values)
QUANTIZE_BYTES_PER_VALUE = 8
QUANTIZE_BASE_MB = 256
# The machine's limits: three 256 MiB arrays and two 2048² float32 matrices, plus Python
# (measured peak 796 MiB).
MACHINE_LIMITS_MB = 1024
# Time limits of the other cluster jobs, from what they took here (2 shared cores): a native
# build is 10 CPU-minutes (47 min of wall time with -j 2 on this machine at a load of 10), a
# portable one about 3 times that; writing Qwen3-0.6B in F16 took 28 s and quantizing it 47 s,
# so Qwen3-8B (14 times the values) about 18 minutes; the machine's limits 31 s.
BUILD_RUNTIME_MIN = 120
MODEL_RUNTIME_MIN = 60
MACHINE_LIMITS_RUNTIME_MIN = 15
# A benchmark's memory: the estimate below times this margin, plus this much (the process itself).
MEMORY_MARGIN = 1.15
MEMORY_OVERHEAD = 256 << 20


def attempts(retries: int, remeasure: int = 0) -> int:
    """Benchmark processes one job may start: the first, up to `retries` more for lost results
    and up to `remeasure` more for disturbed ones (each a budget of the whole job, see
    bench_job.measure)."""
    return 1 + retries + remeasure


def bench_runtime_min(timeout_s: float | None, retries: int, remeasure: int = 0,
                      remeasure_wait_s: float = 0) -> int | None:
    """Minutes of a benchmark job's time limit: every attempt up to its timeout, the wait before
    each re-measurement, the margin the runner keeps before the limit, and the job's start-up.
    None without a timeout: the partition's own limit applies, and the runner stops before it
    (deadline.py)."""
    if timeout_s is None:
        return None
    waits = remeasure * remeasure_wait_s
    return math.ceil((attempts(retries, remeasure) * timeout_s + waits + MARGIN_S + JOB_OVERHEAD_S) / 60)


def bench_runtime(policy: dict) -> int | None:
    """bench_runtime_min of a run policy (policy.run_policy)."""
    return bench_runtime_min(policy["timeout_s"], int(policy["retries"]), int(policy["remeasure"]),
                             policy["remeasure_wait_s"])


def submitting(local_exec: bool, remote_exec: bool) -> bool:
    """Whether jobs go to a cluster from here (rather than run here, or inside an allocation):
    Snakemake's workflow.local_exec and workflow.remote_exec."""
    return not local_exec and not remote_exec


def cluster_threads(request: int, cores: int, local_exec: bool, remote_exec: bool, env: dict | None = None) -> int:
    """Threads of a job: `request` is what it asks a cluster for; inside its allocation it takes
    every CPU the allocation holds (so the job step never asks for more); run here, every one of
    the `cores` Snakemake was given, so nothing of the workflow runs beside a measurement."""
    if submitting(local_exec, remote_exec):
        return request
    if remote_exec:
        return allocated_cpus(cores, env)
    return cores


def limits_cpus(job_cpus: list[int]) -> int:
    """What measuring a machine's limits asks for: the most CPUs a benchmark job on it asks for
    (measured like a benchmark), at least 1."""
    return max(job_cpus, default=1)


def mem_mb(nbytes: int) -> int:
    """Bytes as the MiB a scheduler is asked for (rounded up)."""
    return -(-nbytes // 2**20)


def allocated_cpus(fallback: int, env: dict | None = None) -> int:
    """CPUs of the allocation this runs in (all of a node's with --exclusive, the group's in a
    group job); `fallback` outside one. A job step asking for more is refused by SLURM."""
    env = os.environ if env is None else env
    cpus = env.get("SLURM_CPUS_ON_NODE")
    return min(int(cpus), fallback) if cpus and cpus.isdigit() else fallback


def build_threads(cores: int, limit: int = 8) -> int:
    """Compiler processes of a build: the cores available, up to `limit` (the link and the few
    large files of llama.cpp gain little beyond that)."""
    return max(1, min(cores, limit))


def build_mem_mb(threads: int) -> int:
    """One compiler process per thread at its measured peak, plus make, cmake and the linker."""
    return BUILD_BASE_MB + threads * COMPILE_PEAK_MB


def model_mem_mb(quantized: bool, largest_tensor: int) -> int:
    """Synthesis streams tensors in bounded chunks (a constant peak); llama-quantize then holds
    the largest tensor in three forms at once."""
    if not quantized:
        return SYNTH_PEAK_MB
    return max(SYNTH_PEAK_MB, QUANTIZE_BASE_MB + math.ceil(largest_tensor * QUANTIZE_BYTES_PER_VALUE / 2**20))


def memory_bytes(model, job) -> int:
    """A benchmark job's memory (a models.Model, a grid.Job): model bytes + the KV cache llama.cpp
    allocates + compute buffers, with a margin."""
    m = model.shape
    opts = job.option_map
    _, allocated, _ = job.context()
    kv = kv_cache_bytes(m.n_layer, allocated, m.n_head_kv, m.head_dim,
                        opts.get("cache_type_k") or "f16", opts.get("cache_type_v") or "f16")
    ubatch = min(int(opts.get("ubatch") or 512), job.b * max(job.pp, 1))
    scores = 0 if opts.get("flash_attn") == "on" else ubatch * allocated * m.n_head
    compute = 4 * (ubatch * (m.n_vocab + 4 * m.n_embd + 3 * m.n_ff) + scores)
    total = model.bytes + kv + compute
    return int(total * MEMORY_MARGIN) + MEMORY_OVERHEAD


def job_cpus(options: dict) -> int:
    """CPUs a benchmark job asks a scheduler for: its -t/-tb; without them llama.cpp takes every
    core of the node, which the whole-node (exclusive) allocation of the SLURM profile provides."""
    return max(int(options.get("threads") or 1), int(options.get("threads_batch") or 1))


def job_gpus(gpu_backend: bool, options: dict) -> int:
    """1 when the build has a GPU backend and the job offloads layers; a CPU build never asks
    (a cluster without GRES refuses such a job at once)."""
    return int(gpu_backend and options.get("n_gpu_layers") not in (None, 0))
