# Report: report.md and the self-contained report.html, from the tables and figures.


rule write_report:
    input:
        unpack(machine_comparison),
        runs=paths.RUNS,
        limits=machine_limits,
        tables=[fill(paths.TABLE, table=t, ext="parquet") for t in ANALYSIS_TABLES],
        figures=[fill(paths.FIGURE, name=name, ext="png") for name in FIGURE_NAMES],
        comparison=fill(paths.COMPARISON, name="compare_summary", ext="parquet"),
        comparison_figure=fill(paths.COMPARISON, name="compare", ext="png"),
    output:
        md=fill(paths.REPORT, ext="md"),
        html=fill(paths.REPORT, ext="html"),
    log:
        fill(paths.RULE_LOG, rule="write_report"),
    conda:
        "../envs/analysis.yaml"
    params:
        captions=FIGURE_CAPTIONS,
        config=REPORTED_CONFIG,
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/write_report.py"
