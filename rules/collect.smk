# Collect: the plan, imported logs, and every record into one table.


rule plan_table:
    output:
        paths.PLAN,
    log:
        fill(paths.RULE_LOG, rule="plan_table"),
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
        skipped=STUDY.skipped_records(),
    script:
        "../scripts/runs_table.py"
