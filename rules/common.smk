import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

try:
    from batchbench import UserError
    from batchbench.config_check import check as check_config
    from batchbench.outputs import FIGURES as FIGURE_NAMES, TABLES as ANALYSIS_TABLES
    from batchbench.policy import job_environment
    from batchbench.study import Study, canonical, spec_json
except ImportError as err:
    raise WorkflowError(
        f"the workflow's Python package is missing ({err}): run `pip install -r requirements.txt`"
    )


try:
    # every mistake named by its key, before Snakemake's own check fills in the defaults
    check_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
    validate(config, schema="../schemas/config.schema.yaml", set_default=True)
    STUDY = Study(config, Path(workflow.basedir))
except UserError as err:
    # a user's mistake: the message alone, no traceback
    sys.exit(f"config error (nothing was run):\n{err}")

JOBS = {job.relpath(): job for job in STUDY.jobs}
# Earlier in the interleaved order = higher priority, so jobs run in that order.
PRIORITY = {path: len(JOBS) - i for i, path in enumerate(JOBS)}
# Builds and models first, so the first job of the order does not wait for its model.
SETUP_PRIORITY = len(JOBS) + 1
if not getattr(workflow, "remote_exec", False):
    logger.info(STUDY.summary)
    if STUDY.planning_note():
        logger.warning(STUDY.planning_note())


def one_of(names):
    """A wildcard regex matching exactly these values (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    experiment=re.escape(STUDY.experiment),
    model=one_of(m.dir for m in STUDY.models),
    build=one_of(b.dir for b in STUDY.builds),
    opts=r"[A-Za-z0-9.+=-]+(_[A-Za-z0-9.+=-]+)*",
    pp=r"\d+",
    tg=r"\d+",
    b=r"\d+",
    rep=r"\d+",


ANALYSIS = config["analysis"]
THRESHOLDS = {
    "min_time_s": ANALYSIS["min_time_ms"] / 1000,
    "max_cv": ANALYSIS["max_cv"],
    "saturation_share": ANALYSIS["saturation_share"],
    "outlier_factor": ANALYSIS["outlier_factor"],
}
# What the report shows of the config: a changed run policy or key order reports nothing anew.
REPORTED_CONFIG = canonical({"experiment": STUDY.experiment, "grid": config["grid"]})
FIGURE_CAPTIONS = {
    name: (Path(workflow.basedir) / "report" / "figures" / f"{name}.rst")
    .read_text()
    .strip()
    for name in [*FIGURE_NAMES, "compare"]
}


def get_final_output():
    results = Path("results") / STUDY.experiment
    return [
        str(results / name)
        for name in ("runs.parquet", "plan.tsv", "report.html", "report.md")
    ]


# The first of each axis is the baseline others are divided by.
COMPARISON_BASELINES = {
    "experiment": STUDY.experiment,
    "build": STUDY.builds[0].name,
    "model": STUDY.models[0].name if STUDY.models else "",
}


def comparison_runs(wildcards):
    return [f"results/{wildcards.experiment}/runs.parquet"] + [
        f"results/{other}/runs.parquet" for other in ANALYSIS["compare_with"]
    ]


def limits_threads(wildcards):
    """Measured with the threads a benchmark job gets (all of a node's, like a benchmark)."""
    return (
        max((STUDY.cpus(job) for job in STUDY.jobs), default=1)
        if submitting()
        else workflow.cores
    )


def machine_limits(wildcards):
    """Measured only where this experiment runs benchmarks (imported rows come from elsewhere)."""
    return [f"results/{wildcards.experiment}/machine/limits.json"] if STUDY.jobs else []


def bench_outputs(wildcards):
    """Every job's record, in the interleaved order the grid was expanded in."""
    return [f"results/{wildcards.experiment}/runs/{path}.json" for path in JOBS]


def bench_job(wildcards):
    w = wildcards
    return JOBS[f"{w.model}/{w.build}/{w.opts}/pp{w.pp}_tg{w.tg}_b{w.b}_r{w.rep}"]


def imported_records(wildcards):
    return [f"results/{wildcards.experiment}/imported.json"] if STUDY.imports else []


def bench_priority(wildcards):
    w = wildcards
    return PRIORITY[f"{w.model}/{w.build}/{w.opts}/pp{w.pp}_tg{w.tg}_b{w.b}_r{w.rep}"]


def bench_spec(wildcards):
    return spec_json(STUDY.job_spec(bench_job(wildcards)))


def submitting():
    """Whether jobs go to a cluster from here (rather than run here or inside an allocation)."""
    return not workflow.local_exec and not workflow.remote_exec


def bench_threads(wildcards):
    """What a cluster job asks for is the job's -t; where jobs run (on this machine, or inside a
    cluster allocation holding a group of them) a benchmark claims every core, so nothing of
    the workflow runs beside a measurement."""
    return STUDY.cpus(bench_job(wildcards)) if submitting() else workflow.cores


# a per-job GPU request only when some build could use one (each function costs dry-run time)
ANY_GPU_BUILD = any(build.gpu_backend for build in STUDY.builds)


def bench_gpus(wildcards):
    return STUDY.gpus(bench_job(wildcards))


def bench_mem_mb(wildcards):
    return -(-STUDY.memory_bytes(bench_job(wildcards)) // 2**20)


# Minutes a benchmark job may take on a scheduler: its timeout plus start-up slack.
BENCH_RUNTIME = int(-(-(STUDY.run.get("timeout_s") or 3600) // 60)) + 5


# How benchmark jobs run (timeout, retries, memory cap) and the interpreter that runs them reach
# each job through its environment, not its params (which Snakemake compares): a new policy or
# virtual environment applies to the jobs still to run and re-measures nothing.
os.environ.update(job_environment(STUDY.run))


# Setup jobs' params are what they make, canonical (sorted keys) and free of this checkout's
# location: the patches as the config names them (relative to the workflow) and by content.
def build_params(wildcards):
    build = STUDY.build_by_dir[wildcards.build]
    return canonical(
        {
            "name": build.name,
            "identity": build.identity,
            "source": build.source,
            "cmake_flags": build.cmake_flags,
            "patches": build.patch_refs,
            "binaries": build.binaries,
        }
    )


def model_params(wildcards):
    model = STUDY.model_by_dir[wildcards.model]
    return {
        "name": model.name,
        "identity": model.identity,
        "path": model.path,
        "synthetic": model.synthetic,
        "key": model.key,
    }


def model_inputs(wildcards):
    """A given GGUF itself; for a synthetic model that needs quantizing, the build that provides
    llama-quantize. Both ancient: the model's identity (content or key) is a param, so a touched
    file or a remade build record with the same identity does not make the model again.
    """
    model = STUDY.model_by_dir[wildcards.model]
    if model.path:
        return [ancient(model.path)]
    if model.quantizer:
        return [
            ancient(f"results/{wildcards.experiment}/builds/{model.quantizer.dir}.json")
        ]
    return []
