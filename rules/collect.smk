rule plan_table:
    output:
        "results/{experiment}/plan.tsv",
    log:
        "logs/{experiment}/plan_table.log",
    params:
        rows=STUDY.plan_rows(),
        summary=STUDY.summary,
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/plan_table.py"


rule runs_table:
    input:
        bench_outputs,
    output:
        "results/{experiment}/runs.parquet",
    log:
        "logs/{experiment}/runs_table.log",
    params:
        skipped=STUDY.skipped_records(),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/runs_table.py"
