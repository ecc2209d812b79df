rule plan_table:
    output:
        "results/{experiment}/plan.tsv",
    log:
        "logs/{experiment}/plan_table.log",
    conda:
        "../envs/analysis.yaml"
    params:
        rows=plan.rows(STUDY),
        summary=plan.summary(STUDY),
    script:
        "../scripts/plan_table.py"


rule import_logs:
    input:
        STUDY.imports,
    output:
        "results/{experiment}/imported.json",
    log:
        "logs/{experiment}/import_logs.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/import_logs.py"


rule runs_table:
    input:
        runs=bench_outputs,
        imported=imported_records,
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
