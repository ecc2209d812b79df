rule plan_table:
    output:
        f"{RESULTS}/plan.tsv",
    log:
        f"{LOGS}/plan_table.log",
    conda:
        "../envs/analysis.yaml"
    # functions: computed when the job is planned, not by every cluster job's own start
    params:
        rows=lambda wildcards: STUDY.plan_rows(),
        summary=lambda wildcards: STUDY.summary,
    script:
        "../scripts/plan_table.py"


rule import_logs:
    input:
        STUDY.imports,
    output:
        f"{RESULTS}/imported.json",
    log:
        f"{LOGS}/import_logs.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/import_logs.py"


rule runs_table:
    input:
        runs=bench_outputs,
        imported=imported_records,
    output:
        f"{RESULTS}/runs.parquet",
    log:
        f"{LOGS}/runs_table.log",
    conda:
        "../envs/analysis.yaml"
    params:
        skipped=lambda wildcards: STUDY.skipped_records(),
    script:
        "../scripts/runs_table.py"
