# Measure: the benchmarks, and each machine's own limits, where the benchmarks run.


# One process per combination. The job takes every core, so nothing else of the workflow runs
# beside a measurement; its runner writes a record with a status even when the binary fails.
# It reruns when its spec changes (combination, options, build and model identity), not when
# the setup file is merely remade (ancient), nor for run policy or interpreter (environment).
rule bench_run:
    input:
        ancient(paths.SETUP),
    output:
        paths.combined(paths.RUN),
    log:
        paths.combined(paths.RUN_LOG),
    priority: bench_priority
    conda:
        "../envs/bench.yaml"
    threads: bench_threads
    resources:
        **EXCLUSIVE_RESOURCES,
        **BENCH_RESOURCES,
        mem_mb=bench_mem_mb,
        runtime=BENCH_RUNTIME,
    params:
        spec=bench_spec,
    shell:
        # the job's Python (its env's with --sdm conda, else this run's: common.smk), the package
        # from the workflow's source folder (PYTHONPATH, set in common.smk)
        '"$BATCHBENCH_PYTHON" -m batchbench.bench_job --spec {params.spec:q}'
        " --setup {input:q} --output {output:q} --log {log:q}"


# Each machine's own limits, measured where benchmarks run (taking every core, like a benchmark).
rule measure_limits:
    output:
        paths.LIMITS,
    log:
        paths.LIMITS_LOG,
    conda:
        "../envs/analysis.yaml"
    threads: limits_threads
    resources:
        **EXCLUSIVE_RESOURCES,
        mem_mb=res.MACHINE_LIMITS_MB,
        runtime=res.MACHINE_LIMITS_RUNTIME_MIN,
    params:
        machine=machine_name,
    script:
        "../scripts/measure_limits.py"
