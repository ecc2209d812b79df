# Analyse: the derived tables, their figures, and the comparisons, each rule its own folder.


rule analysis_tables:
    input:
        runs=paths.RUNS,
        limits=machine_limits,
    output:
        [fill(paths.TABLE, table=t, ext="parquet") for t in ANALYSIS_TABLES],
        [
            report(
                fill(paths.TABLE, table=t, ext="csv"),
                caption=f"../report/tables/{t}.rst",
                category="Tables",
                labels={"table": t},
            )
            for t in ANALYSIS_TABLES
        ],
    log:
        fill(paths.RULE_LOG, rule="analysis_tables"),
    conda:
        "../envs/analysis.yaml"
    params:
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
        predict=canonical(ANALYSIS["predict"]),
    script:
        "../scripts/analysis_tables.py"


rule plot_figures:
    input:
        [fill(paths.TABLE, table=t, ext="parquet") for t in ANALYSIS_TABLES],
    output:
        **{
            f"{name}_png": report(
                fill(paths.FIGURE, name=name, ext="png"),
                caption=f"../report/figures/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in FIGURE_NAMES
        },
        **{
            f"{name}_svg": fill(paths.FIGURE, name=name, ext="svg")
            for name in FIGURE_NAMES
        },
    log:
        fill(paths.RULE_LOG, rule="plot_figures"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/plot_figures.py"


# This experiment against those named in analysis.compare_with, and its builds and models
# against each other: the ratio of every metric per matching combination.
rule compare_runs:
    input:
        runs=comparison_runs,
    output:
        tables=[
            fill(paths.COMPARISON, name=t, ext="parquet")
            for t in ["compare", "compare_summary"]
        ],
        ratios_csv=fill(paths.COMPARISON, name="compare", ext="csv"),
        summary_csv=report(
            fill(paths.COMPARISON, name="compare_summary", ext="csv"),
            caption="../report/tables/compare_summary.rst",
            category="Tables",
            labels={"table": "compare_summary"},
        ),
        png=report(
            fill(paths.COMPARISON, name="compare", ext="png"),
            caption="../report/figures/compare.rst",
            category="Figures",
            labels={"figure": "compare"},
        ),
        svg=fill(paths.COMPARISON, name="compare", ext="svg"),
    log:
        fill(paths.RULE_LOG, rule="compare_runs"),
    conda:
        "../envs/analysis.yaml"
    params:
        baselines=COMPARISON_BASELINES,
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/compare_runs.py"


# With machines: each machine's speeds and its share of its own limits, and S_TG against B per
# machine (the ratios between machines are in compare_runs' tables).
rule compare_machines:
    input:
        runs=paths.RUNS,
        limits=machine_limits,
    output:
        table=fill(paths.MACHINE_COMPARISON, name="compare_machines", ext="parquet"),
        csv=report(
            fill(paths.MACHINE_COMPARISON, name="compare_machines", ext="csv"),
            caption="../report/tables/compare_machines.rst",
            category="Tables",
            labels={"table": "compare_machines"},
        ),
        png=report(
            fill(paths.MACHINE_COMPARISON, name="compare_machines", ext="png"),
            caption="../report/figures/compare_machines.rst",
            category="Figures",
            labels={"figure": "compare_machines"},
        ),
        svg=fill(paths.MACHINE_COMPARISON, name="compare_machines", ext="svg"),
    log:
        fill(paths.RULE_LOG, rule="compare_machines"),
    conda:
        "../envs/analysis.yaml"
    params:
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/compare_machines.py"
