# What a benchmark job runs: one build with one model (the job reads one small file).
rule bench_setup:
    input:
        build="results/{experiment}/builds/{build}.json",
        model="results/{experiment}/models/{model}.json",
    output:
        "results/{experiment}/setups/{model}/{build}.json",
    log:
        "logs/{experiment}/bench_setup/{model}/{build}.log",
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
        ancient("results/{experiment}/setups/{model}/{build}.json"),
    output:
        "results/{experiment}/runs/{model}/{build}/{opts}/pp{pp}_tg{tg}_b{b}_r{rep}.json",
    log:
        "logs/{experiment}/bench_run/{model}/{build}/{opts}/pp{pp}_tg{tg}_b{b}_r{rep}.log",
    priority: bench_priority
    conda:
        "../envs/bench.yaml"
    threads: bench_threads
    resources:
        mem_mb=bench_mem_mb,
        runtime=BENCH_RUNTIME,
        slurm_extra=res.EXCLUSIVE,
        gpu=bench_gpus if ANY_GPU_BUILD else 0,
    params:
        spec=bench_spec,
    shell:
        # the job's Python (its env's with --sdm conda, else this run's: common.smk), the package
        # from the workflow's source folder (PYTHONPATH, set in common.smk)
        '"$BATCHBENCH_PYTHON" -m batchbench.bench_job --spec {params.spec:q}'
        " --setup {input:q} --output {output:q} --log {log:q}"
