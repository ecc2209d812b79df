# One process per combination. The job takes every core, so nothing else of the workflow runs
# beside a measurement; its runner writes a record with a status even when the binary fails.
rule bench_run:
    input:
        build="results/{experiment}/builds/{build}.json",
        model="results/{experiment}/models/{model}.json",
    output:
        "results/{experiment}/runs/{model}/{build}/{opts}/pp{pp}_tg{tg}_b{b}_r{rep}.json",
    log:
        "logs/{experiment}/bench_run/{model}/{build}/{opts}/pp{pp}_tg{tg}_b{b}_r{rep}.log",
    conda:
        "../envs/bench.yaml"
    threads: workflow.cores
    resources:
        mem_mb=bench_mem_mb,
        runtime=bench_runtime,
    params:
        spec=bench_spec,
        python=sys.executable,
    shell:
        "{params.python:q} -m batchbench.bench_job --spec {params.spec:q}"
        " --build {input.build:q} --model {input.model:q} --output {output:q} --log {log:q}"
