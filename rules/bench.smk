# What a benchmark job runs: one build with one model (the job reads one small file).
rule bench_setup:
    input:
        build=f"{RESULTS}/builds/{{build}}.json",
        model=f"{RESULTS}/models/{{model}}.json",
    output:
        f"{RESULTS}/setups/{{model}}/{{build}}.json",
    log:
        f"{LOGS}/bench_setup/{{model}}/{{build}}.log",
    priority: SETUP_PRIORITY
    conda:
        "../envs/bench.yaml"
    script:
        "../scripts/bench_setup.py"


# One process per combination. The job takes every core, so nothing else of the workflow runs
# beside a measurement; its runner writes a record with a status even when the binary fails.
# It reruns when its spec changes (combination, options, build and model identity), not when
# the setup file is merely remade (ancient), nor for run policy or interpreter (environment).
rule bench_run:
    input:
        ancient(f"{RESULTS}/setups/{{model}}/{{build}}.json"),
    output:
        f"{RESULTS}/runs/{{model}}/{{build}}/{{combination}}.json",
    log:
        f"{LOGS}/bench_run/{{model}}/{{build}}/{{combination}}.log",
    priority: bench_priority
    conda:
        "../envs/bench.yaml"
    threads: bench_threads
    resources:
        **BENCH_RESOURCES,
        mem_mb=bench_mem_mb,
        runtime=BENCH_RUNTIME,
        slurm_extra=res.EXCLUSIVE,
    params:
        spec=bench_spec,
    shell:
        # the job's Python (its env's with --sdm conda, else this run's: common.smk), the package
        # from the workflow's source folder (PYTHONPATH, set in common.smk)
        '"$BATCHBENCH_PYTHON" -m batchbench.bench_job --spec {params.spec:q}'
        " --setup {input:q} --output {output:q} --log {log:q}"
