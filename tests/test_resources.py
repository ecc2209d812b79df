"""What each job asks a scheduler for."""

import math

from batchbench import resources as res
from batchbench.deadline import MARGIN_S
from batchbench.synth import PRESETS


def test_benchmark_runtime_covers_every_attempt():
    # timeout 600 s, 2 retries, 1 re-measurement: 4 attempts (the runner's budgets, see
    # test_bench_job's test_the_most_attempts_a_job_makes), the margin and the start-up
    minutes = res.bench_runtime_min(600, retries=2, remeasure=1)
    assert res.attempts(2, 1) == 4
    assert minutes * 60 >= 4 * 600 + MARGIN_S + res.JOB_OVERHEAD_S
    assert minutes == math.ceil((2400 + MARGIN_S + res.JOB_OVERHEAD_S) / 60)
    assert res.bench_runtime_min(600, retries=0) < minutes
    # and the bounded wait before each re-measurement
    assert res.bench_runtime_min(600, retries=2, remeasure=1, remeasure_wait_s=90) == \
        math.ceil((2400 + 90 + MARGIN_S + res.JOB_OVERHEAD_S) / 60)


def test_no_timeout_asks_for_no_time_limit():
    # the partition's own limit applies; the runner stops before it
    assert res.bench_runtime_min(None, retries=2) is None


def test_allocated_cpus_caps_what_a_job_step_asks_for():
    assert res.allocated_cpus(64, {"SLURM_CPUS_ON_NODE": "4"}) == 4
    assert res.allocated_cpus(2, {"SLURM_CPUS_ON_NODE": "48"}) == 2
    assert res.allocated_cpus(8, {}) == 8


def test_build_memory_grows_with_its_compiler_processes():
    assert res.build_threads(128) == 8 and res.build_threads(2) == 2
    assert res.build_mem_mb(8) == res.BUILD_BASE_MB + 8 * res.COMPILE_PEAK_MB


def test_model_memory_is_constant_to_write_and_the_largest_tensor_to_quantize():
    qwen8 = PRESETS["qwen3-8b"]
    assert qwen8.largest_tensor == 151936 * 4096  # token embedding and output
    assert res.model_mem_mb(False, qwen8.largest_tensor) == res.SYNTH_PEAK_MB
    # measured: llama-quantize of Qwen3-0.6B F16 to Q8_0 peaked at 1056 MiB
    assert res.model_mem_mb(True, PRESETS["qwen3-0.6b"].largest_tensor) >= 1056
    assert res.model_mem_mb(True, qwen8.largest_tensor) > 4 * 1056


def test_other_jobs_time_limits_cover_what_they_took_here():
    # a native build: 47 min of wall time on 2 shared cores at a load of 10, portable 3x the CPU
    assert res.BUILD_RUNTIME_MIN >= 47 * 2
    # Qwen3-8B extrapolated from Qwen3-0.6B (28 s writing + 47 s quantizing, 14x the values)
    assert res.MODEL_RUNTIME_MIN * 60 >= 2 * 14 * (28 + 47)
    assert res.MACHINE_LIMITS_RUNTIME_MIN * 60 >= 10 * 31


def test_a_benchmark_asks_for_its_threads_and_a_gpu_only_when_it_offloads():
    assert res.job_cpus({}) == 1 and res.job_cpus({"threads": 4, "threads_batch": 8}) == 8
    assert res.job_gpus(True, {"n_gpu_layers": 99}) == 1
    assert res.job_gpus(True, {"n_gpu_layers": 0}) == res.job_gpus(True, {}) == 0
    assert res.job_gpus(False, {"n_gpu_layers": 99}) == 0  # a CPU build never asks


def test_threads_are_the_request_when_submitting_and_every_core_otherwise():
    # submitting to a cluster: the job's own request
    assert res.submitting(local_exec=False, remote_exec=False)
    assert res.cluster_threads(4, cores=64, local_exec=False, remote_exec=False) == 4
    # run here: every core Snakemake was given
    assert not res.submitting(local_exec=True, remote_exec=False)
    assert res.cluster_threads(4, cores=2, local_exec=True, remote_exec=False) == 2
    # inside a cluster job: what its allocation holds, never more
    assert res.cluster_threads(4, cores=64, local_exec=False, remote_exec=True, env={"SLURM_CPUS_ON_NODE": "8"}) == 8
    assert res.cluster_threads(4, cores=2, local_exec=False, remote_exec=True, env={}) == 2


def test_limits_and_memory_units():
    assert res.limits_cpus([]) == 1 and res.limits_cpus([2, 8, 4]) == 8
    assert res.mem_mb(1) == 1 and res.mem_mb(2**20) == 1 and res.mem_mb(2**20 + 1) == 2


def test_the_runtime_of_a_policy():
    from batchbench.policy import DEFAULTS

    assert res.bench_runtime(DEFAULTS) == res.bench_runtime_min(
        DEFAULTS["timeout_s"], DEFAULTS["retries"], DEFAULTS["remeasure"], DEFAULTS["remeasure_wait_s"])
    assert res.bench_runtime({**DEFAULTS, "timeout_s": None}) is None
