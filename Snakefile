# llama-batched-bench study: build llama.cpp, make the models, run one job per combination,
# collect every result into results/<experiment>/runs.parquet.
import gc
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0.0")

# Snakemake allocates hundreds of objects for each job it plans; with Python's default
# thresholds the cyclic garbage collector ran every 700 allocations and walked every object held
# (the whole DAG) a dozen times for 10,000 jobs: an eighth of the dry run's CPU time
# (bench/scale.py). Every 50,000 it costs a quarter of that; nothing depends on when cyclic
# garbage goes, and memory stays the same. (It holds for the whole Snakemake process, running
# jobs too, and for a workflow that uses this one as a module.)
gc.set_threshold(50_000, 10, 10)


# the embedded default, found from any --directory; --configfile and --config override it
# (current_basedir: this file's folder, also when the workflow is a module of another)
configfile:
    Path(workflow.current_basedir.get_path_or_uri(secret_free=True))
    / "config"
    / "config.yaml"


# one file per stage: setup, measure, collect, analyse, report
include: "rules/common.smk"
include: "rules/setup.smk"
include: "rules/measure.smk"
include: "rules/collect.smk"
include: "rules/analyse.smk"
include: "rules/report.smk"


report: "report/workflow.rst"


# Light bookkeeping and the analysis stay on the submitting host; builds, models, benchmarks
# and the machine's limits are cluster jobs (measured where the benchmarks run).
localrules:
    all,
    bench_setup,
    plan_table,
    runs_table,
    analysis_tables,
    plot_figures,
    compare_runs,
    compare_machines,
    write_report,


rule all:
    default_target: True
    input:
        get_final_output(),
