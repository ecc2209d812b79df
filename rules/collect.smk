rule plan_table:
    output:
        "results/{experiment}/plan.tsv",
    log:
        "logs/{experiment}/plan_table.log",
    conda:
        "../envs/analysis.yaml"
    params:
        rows=STUDY.plan_rows(),
        summary=STUDY.summary,
    script:
        "../scripts/plan_table.py"


rule runs_table:
    input:
        bench_outputs,
    output:
        "results/{experiment}/runs.parquet",
    log:
        "logs/{experiment}/runs_table.log",
    conda:
        "../envs/analysis.yaml"
    params:
        skipped=STUDY.skipped_records(),
    script:
        "../scripts/runs_table.py"
