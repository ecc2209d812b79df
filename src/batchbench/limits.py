"""The machine's own limits, measured where the benchmarks run: memory bandwidth with a
STREAM-style triad, and the FLOP/s of a single-precision matrix product through numpy's BLAS."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .host import facts as host_facts

TRIAD_BYTES = 3 * 2**28  # three arrays of 256 MiB: far beyond any cache
GEMM_SIZE = 2048


def best_time(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def triad_bandwidth(threads: int, total_bytes: int = TRIAD_BYTES, repeats: int = 5) -> float:
    """Bytes per second of a = b + s·c over `threads` slices at once (numpy releases the GIL).
    numpy does it in two passes (a = s·c; a += b): 5 array transfers, all counted."""
    n = total_bytes // 3 // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bounds = np.linspace(0, n, threads + 1, dtype=int)
    slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=False)]

    def triad(part: slice):
        np.multiply(c[part], 3.0, out=a[part])
        np.add(a[part], b[part], out=a[part])

    with ThreadPoolExecutor(threads) as pool:
        seconds = best_time(lambda: list(pool.map(triad, slices)), repeats)
    return 5 * n * 8 / seconds


def gemm_flops(size: int = GEMM_SIZE, repeats: int = 5) -> float:
    """FLOP/s of a float32 matrix product (numpy's BLAS, on its own threads)."""
    rng = np.random.default_rng(0)
    x = rng.random((size, size), dtype=np.float32)
    y = rng.random((size, size), dtype=np.float32)
    x @ y  # let the BLAS start its threads
    return 2 * size**3 / best_time(lambda: x @ y, repeats)


def measure(threads: int | None = None) -> dict:
    threads = threads or os.cpu_count() or 1
    host = host_facts()
    return {
        "host_name": host.get("host_name"),
        "host_cpu": host.get("host_cpu"),
        "threads": threads,
        "bandwidth_gb_s": triad_bandwidth(threads) / 1e9,
        "bandwidth_method": f"STREAM-style triad a = b + s·c over 3 × 256 MiB float64 arrays, "
                            f"{threads} threads, best of 5, every transfer counted",
        "flops_g": gemm_flops() / 1e9,
        "flops_method": f"float32 {GEMM_SIZE}×{GEMM_SIZE} matrix product through numpy's BLAS, best of 5; "
                        "llama.cpp's CPU kernels for quantized weights use integer dot products, "
                        "whose peak is not measured here, so this is a reference, not their ceiling",
    }
