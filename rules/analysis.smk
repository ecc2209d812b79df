# Each machine's own limits, measured where benchmarks run (taking every core, like a benchmark).
rule machine_limits:
    output:
        "results/{experiment}/machine/{machine}limits.json",
    log:
        "logs/{experiment}/{machine}machine_limits.log",
    conda:
        "../envs/analysis.yaml"
    threads: limits_threads
    resources:
        **EXCLUSIVE_RESOURCES,
        mem_mb=res.MACHINE_LIMITS_MB,
        runtime=res.MACHINE_LIMITS_RUNTIME_MIN,
    params:
        machine=machine_name,
    script:
        "../scripts/machine_limits.py"


rule analysis_tables:
    input:
        runs="results/{experiment}/runs.parquet",
        limits=machine_limits,
    output:
        expand("results/{{experiment}}/analysis/{table}.parquet", table=ANALYSIS_TABLES),
        [
            report(
                f"results/{{experiment}}/analysis/{table}.csv",
                caption=f"../report/tables/{table}.rst",
                category="Tables",
                labels={"table": table},
            )
            for table in ANALYSIS_TABLES
        ],
    log:
        "logs/{experiment}/analysis_tables.log",
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
        expand("results/{{experiment}}/analysis/{table}.parquet", table=ANALYSIS_TABLES),
    output:
        **{
            f"{name}_png": report(
                f"results/{{experiment}}/figures/{name}.png",
                caption=f"../report/figures/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in FIGURE_NAMES
        },
        **{
            f"{name}_svg": f"results/{{experiment}}/figures/{name}.svg"
            for name in FIGURE_NAMES
        },
    log:
        "logs/{experiment}/figures.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figures.py"


rule report:
    input:
        unpack(machine_comparison),
        runs="results/{experiment}/runs.parquet",
        limits=machine_limits,
        tables=expand(
            "results/{{experiment}}/analysis/{table}.parquet", table=ANALYSIS_TABLES
        ),
        figures=expand("results/{{experiment}}/figures/{name}.png", name=FIGURE_NAMES),
        comparison="results/{experiment}/analysis/compare_summary.parquet",
        comparison_figure="results/{experiment}/figures/compare.png",
    output:
        md="results/{experiment}/report.md",
        html="results/{experiment}/report.html",
    log:
        "logs/{experiment}/report.log",
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
            "results/{{experiment}}/analysis/{table}.parquet",
            table=["compare", "compare_summary"],
        ),
        ratios_csv="results/{experiment}/analysis/compare.csv",
        summary_csv=report(
            "results/{experiment}/analysis/compare_summary.csv",
            caption="../report/tables/compare_summary.rst",
            category="Tables",
            labels={"table": "compare_summary"},
        ),
        png=report(
            "results/{experiment}/figures/compare.png",
            caption="../report/figures/compare.rst",
            category="Figures",
            labels={"figure": "compare"},
        ),
        svg="results/{experiment}/figures/compare.svg",
    log:
        "logs/{experiment}/comparison.log",
    conda:
        "../envs/analysis.yaml"
    params:
        baselines=COMPARISON_BASELINES,
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/comparison.py"


# With machines: each machine's speeds and its share of its own limits, and S_TG against B per
# machine (the ratios between machines are in the comparison above).
rule machine_comparison:
    input:
        runs="results/{experiment}/runs.parquet",
        limits=machine_limits,
    output:
        table="results/{experiment}/analysis/compare_machines.parquet",
        csv=report(
            "results/{experiment}/analysis/compare_machines.csv",
            caption="../report/tables/compare_machines.rst",
            category="Tables",
            labels={"table": "compare_machines"},
        ),
        png=report(
            "results/{experiment}/figures/compare_machines.png",
            caption="../report/figures/compare_machines.rst",
            category="Figures",
            labels={"figure": "compare_machines"},
        ),
        svg="results/{experiment}/figures/compare_machines.svg",
    log:
        "logs/{experiment}/machine_comparison.log",
    conda:
        "../envs/analysis.yaml"
    params:
        thresholds=THRESHOLDS,
        anonymise=ANALYSIS["anonymise"],
    script:
        "../scripts/machine_comparison.py"
