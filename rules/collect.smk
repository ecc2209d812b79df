# Collect: the plan, imported logs, and every record into one table.


rule plan_table:
    output:
        paths.PLAN,
    log:
        fill(paths.RULE_LOG, rule="plan_table"),
    conda:
        "../envs/analysis.yaml"
    # functions: computed when the job is planned, not by every cluster job's own start
    params:
        rows=lambda wildcards: plan.rows(STUDY),
        summary=lambda wildcards: plan.summary(STUDY),
    script:
        "../scripts/plan_table.py"


rule import_logs:
    input:
        STUDY.imports,
    output:
        paths.IMPORTED,
    log:
        fill(paths.RULE_LOG, rule="import_logs"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/import_logs.py"


rule runs_table:
    input:
        runs=bench_outputs,
        imported=imported_records,
    output:
        paths.RUNS,
    log:
        fill(paths.RULE_LOG, rule="runs_table"),
    conda:
        "../envs/analysis.yaml"
    params:
        skipped=lambda wildcards: STUDY.skipped_records(),
    script:
        "../scripts/runs_table.py"
