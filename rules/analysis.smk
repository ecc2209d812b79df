# The machine's own limits, measured where benchmarks run (taking every core, like a benchmark).
rule machine_limits:
    output:
        f"{RESULTS}/machine/limits.json",
    log:
        f"{LOGS}/machine_limits.log",
    conda:
        "../envs/analysis.yaml"
    threads: limits_threads
    resources:
        mem_mb=res.MACHINE_LIMITS_MB,
        runtime=res.MACHINE_LIMITS_RUNTIME_MIN,
        slurm_extra=res.EXCLUSIVE,
    script:
        "../scripts/machine_limits.py"


rule analysis_tables:
    input:
        runs=f"{RESULTS}/runs.parquet",
        limits=machine_limits,
    output:
        expand(f"{RESULTS}/analysis/{{table}}.parquet", table=ANALYSIS_TABLES),
        [
            report(
                f"{RESULTS}/analysis/{table}.csv",
                caption=f"../report/tables/{table}.rst",
                category="Tables",
                labels={"table": table},
            )
            for table in ANALYSIS_TABLES
        ],
    log:
        f"{LOGS}/analysis_tables.log",
    conda:
        "../envs/analysis.yaml"
    params:
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
        predict=canonical(ANALYSIS["predict"]),
    script:
        "../scripts/analysis_tables.py"


rule figures:
    input:
        expand(f"{RESULTS}/analysis/{{table}}.parquet", table=ANALYSIS_TABLES),
    output:
        **{
            f"{name}_png": report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/figures/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in FIGURE_NAMES
        },
        **{f"{name}_svg": f"{RESULTS}/figures/{name}.svg" for name in FIGURE_NAMES},
    log:
        f"{LOGS}/figures.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figures.py"


rule report:
    input:
        runs=f"{RESULTS}/runs.parquet",
        limits=machine_limits,
        tables=expand(f"{RESULTS}/analysis/{{table}}.parquet", table=ANALYSIS_TABLES),
        figures=expand(f"{RESULTS}/figures/{{name}}.png", name=FIGURE_NAMES),
        comparison=f"{RESULTS}/analysis/compare_summary.parquet",
        comparison_figure=f"{RESULTS}/figures/compare.png",
    output:
        md=f"{RESULTS}/report.md",
        html=f"{RESULTS}/report.html",
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/analysis.yaml"
    params:
        captions=FIGURE_CAPTIONS,
        config=REPORTED_CONFIG,
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/report.py"


# This experiment against those named in analysis.compare_with, and its builds and models
# against each other: the ratio of every metric per matching combination.
rule comparison:
    input:
        runs=comparison_runs,
    output:
        tables=expand(
            f"{RESULTS}/analysis/{{table}}.parquet",
            table=["compare", "compare_summary"],
        ),
        ratios_csv=f"{RESULTS}/analysis/compare.csv",
        summary_csv=report(
            f"{RESULTS}/analysis/compare_summary.csv",
            caption="../report/tables/compare_summary.rst",
            category="Tables",
            labels={"table": "compare_summary"},
        ),
        png=report(
            f"{RESULTS}/figures/compare.png",
            caption="../report/figures/compare.rst",
            category="Figures",
            labels={"figure": "compare"},
        ),
        svg=f"{RESULTS}/figures/compare.svg",
    log:
        f"{LOGS}/comparison.log",
    conda:
        "../envs/analysis.yaml"
    params:
        baselines=COMPARISON_BASELINES,
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/comparison.py"
