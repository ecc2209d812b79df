import inspect
import os
import re
import sys
import tempfile
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

# This workflow's folder (workflow.basedir is the outer workflow's when this one is a module).
WORKFLOW_DIR = Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parent
# The workflow's own package, found in its source folder wherever the workflow is (a clone,
# a module of another workflow, --sdm conda, a container): this process imports it from
# there, and every job's Python through PYTHONPATH (jobs inherit this environment).
SOURCE_DIR = str(WORKFLOW_DIR / "src")
sys.path.insert(0, SOURCE_DIR)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [SOURCE_DIR, os.environ.get("PYTHONPATH")]))
)

try:
    from batchbench import UserError, plan, resources as res
    from batchbench.config_check import check as check_config
    from batchbench import machines as machine_settings
    from batchbench.outputs import FIGURES as FIGURE_NAMES, TABLES as ANALYSIS_TABLES
    from batchbench import paths
    from batchbench.paths import fill
    from batchbench.policy import job_environment, run_policy
    from batchbench.study import Study, canonical, spec_json
except ImportError as err:
    raise WorkflowError(
        f"a package the workflow needs is missing ({err}): run `pip install -r requirements.txt`"
    )

# Where Python is told not to cache what it compiles (PYTHONDONTWRITEBYTECODE), every job would
# compile the package's modules again (about 10 ms of CPU for each benchmark job's runner):
# compiled once here instead, into __pycache__ beside them as Python itself would (used by a
# job whose Python is this version; another version's job compiles as before).
if sys.dont_write_bytecode:
    import compileall

    import batchbench

    compileall.compile_dir(batchbench.__path__[0], quiet=2)


try:
    # every mistake named by its key, before Snakemake's own check fills in the defaults
    check_config(config, WORKFLOW_DIR / "schemas" / "config.schema.yaml")
    validate(config, schema="../schemas/config.schema.yaml", set_default=True)
    STUDY = Study(config, WORKFLOW_DIR)
    if not getattr(workflow, "remote_exec", False) and any(
        m.partition for m in STUDY.machines
    ):
        machine_settings.check_partitions(STUDY.machines, machine_settings.partitions())
except UserError as err:
    # a user's mistake: the message alone, no traceback
    sys.exit(f"config error (nothing was run):\n{err}")

# Every path template with this run's experiment filled in (one experiment per run), and its
# machine level where no machines are configured: Snakemake finds the rules that may make a
# file among those whose paths start like it, for each of a job's files; with {experiment} a
# wildcard, every output of every rule under results/ was a candidate for every file.
paths = paths.bound(
    experiment=STUDY.experiment, **({} if STUDY.machine_axis else {"machine": ""})
)
JOBS = {job.relpath(): job for job in STUDY.jobs}
# Earlier in the interleaved order = higher priority, so jobs run in that order.
PRIORITY = {path: len(JOBS) - i for i, path in enumerate(JOBS)}
# Builds and models first, so the first job of the order does not wait for its model.
SETUP_PRIORITY = len(JOBS) + 1
if not getattr(workflow, "remote_exec", False):
    logger.info(plan.summary(STUDY))
    if plan.planning_note(STUDY):
        logger.warning(plan.planning_note(STUDY))


def one_of(names):
    """A wildcard regex matching exactly these values (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    model=one_of(m.dir for m in STUDY.models),
    build=one_of(b.dir for b in STUDY.builds),
    # the machine's folder with its slash (a wildcard only where machines are configured)
    machine="|".join(re.escape(m.path) for m in STUDY.machines) or "(?:)",
    # a benchmark job's option set, combination and repetition (paths.combined)
    combination=paths.combination_pattern(),


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
    name: (WORKFLOW_DIR / "report" / "figures" / f"{name}.rst").read_text().strip()
    for name in [*FIGURE_NAMES, "compare", "compare_machines"]
}


def get_final_output():
    return [
        fill(template, experiment=STUDY.experiment, ext=ext)
        for template, ext in (
            (paths.RUNS, ""),
            (paths.PLAN, ""),
            (paths.REPORT, "html"),
            (paths.REPORT, "md"),
        )
    ]


# The first of each axis is the baseline others are divided by.
COMPARISON_BASELINES = {
    "experiment": STUDY.experiment,
    "build": STUDY.builds[0].name,
    "model": STUDY.models[0].name if STUDY.models else "",
    "machine": STUDY.machines[0].name,
}


def machine_comparison(wildcards):
    """Each machine against its own limits, when machines are configured."""
    if not STUDY.machine_axis:
        return {}
    name = {"name": "compare_machines"}
    return {
        "machines": fill(paths.MACHINE_COMPARISON, **name, ext="parquet"),
        "machines_figure": fill(paths.MACHINE_COMPARISON, **name, ext="png"),
    }


def comparison_runs(wildcards):
    return [paths.runs_of(e) for e in [STUDY.experiment, *ANALYSIS["compare_with"]]]


def limits_threads(wildcards):
    """Measured with the threads a benchmark job gets (all of a node's, like a benchmark)."""
    machine = machine_of(wildcards)
    return cluster_threads(
        res.limits_cpus(
            [
                res.job_cpus(job.option_map)
                for job in STUDY.jobs
                if STUDY.machine_of(job) is machine
            ]
        )
    )


def machine_limits(wildcards):
    """Measured only where this experiment runs benchmarks (imported rows come from elsewhere),
    on each machine."""
    if not STUDY.jobs:
        return []
    return [fill(paths.LIMITS, machine=m.path) for m in STUDY.machines]


def machine_of(wildcards):
    """The machine a job is for: its `machine` wildcard, else the first (models are made there)."""
    return STUDY.machine_by_path[getattr(wildcards, "machine", STUDY.machines[0].path)]


def machine_name(wildcards):
    return machine_of(wildcards).name


# Scheduler settings that put a job on its machine (each a function of the job's wildcards).
EXCLUSIVE_RESOURCES = machine_settings.rule_resources(
    STUDY.machines, machine_of, exclusive=True
)
SHARED_RESOURCES = machine_settings.rule_resources(
    STUDY.machines, machine_of, exclusive=False
)


def bench_outputs(wildcards):
    """Every job's record, in the interleaved order the grid was expanded in."""
    # the executor is known only once the DAG is built: its machines are checked here, before any job
    if STUDY.machine_axis and not workflow.dryrun:
        try:
            machine_settings.check_executor(STUDY.machines, submitting())
        except UserError as err:
            raise WorkflowError(f"config error (nothing was run):\n{err}")
    run = paths.RUN.replace(paths.JOB_KEY, "{}")
    return [run.format(path) for path in JOBS]


def per_job(func):
    """A function Snakemake calls for every benchmark job, with its signature inspected once.
    Snakemake reads the signature of a rule's function at each call (to pass only the arguments
    it takes), unless the function carries it, as Snakemake's own wrappers do: on a large grid
    that reading was a third of the cost of each call."""
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# Snakemake evaluates each resource of each job, constants too, through Resource.evaluate,
# whose signature it inspects at every call (40,000 times for 10,000 jobs). It takes *args and
# **kwargs, so its inspected parameters never change: given once, as above. (A Snakemake without
# it plans as before, only slower.)
try:
    from snakemake.resources import Resource

    per_job(Resource.evaluate)
except (ImportError, AttributeError):
    pass


# A benchmark job's key (paths.JOB_KEY) as its rule's wildcards name it; {machine} only where
# machines are configured (filled in empty above otherwise).
BENCH_KEY = paths.combined(paths.JOB_KEY)


def bench_key(wildcards):
    return BENCH_KEY.format_map(wildcards)


def bench_job(wildcards):
    return JOBS[bench_key(wildcards)]


def imported_records(wildcards):
    return [paths.IMPORTED] if STUDY.imports else []


@per_job
def bench_priority(wildcards):
    return PRIORITY[bench_key(wildcards)]


@per_job
def bench_spec(wildcards):
    return spec_json(STUDY.job_spec(bench_job(wildcards)))


def submitting():
    """Whether jobs go to a cluster from here (rather than run here or inside an allocation)."""
    return res.submitting(workflow.local_exec, workflow.remote_exec)


@per_job
def bench_threads(wildcards):
    """What a cluster job asks for is the job's -t; where jobs run (on this machine, or inside a
    cluster allocation, alone or holding a group of them) a benchmark claims every core, so
    nothing of the workflow runs beside a measurement."""
    return cluster_threads(res.job_cpus(bench_job(wildcards).option_map))


# a per-job GPU request only when some build could use one (each function costs dry-run time)
ANY_GPU_BUILD = any(build.gpu_backend for build in STUDY.builds)


@per_job
def bench_gpus(wildcards):
    job = bench_job(wildcards)
    return res.job_gpus(STUDY.build_by_dir[job.build_dir].gpu_backend, job.option_map)


@per_job
def bench_mem_mb(wildcards):
    return res.mem_mb(STUDY.memory_bytes(bench_job(wildcards)))


def default_tmpdir():
    """The temporary folder Snakemake's default `tmpdir` resource gives a job, or None where the
    user set another (--default-resources tmpdir=...). That default is an expression Snakemake
    evaluates anew for every job (on a large grid a quarter of what planning spends on a
    benchmark job's resources); its value is this process's temporary folder, the same once as
    for every job (a cluster job parses the workflow again on its node, and gets the node's).
    """
    defaults = workflow.resource_settings.default_resources
    if defaults is None:
        return tempfile.gettempdir()
    given = defaults["tmpdir"] if "tmpdir" in defaults else None
    return (
        tempfile.gettempdir()
        if getattr(given, "raw", given) == "system_tmpdir"
        else None
    )


# Resources of a benchmark job beside its machine, memory and time: a GPU only where some build
# could use one (a CPU build's jobs ask nothing, as with gpu=0), the temporary folder.
BENCH_RESOURCES = {
    **({"gpu": bench_gpus} if ANY_GPU_BUILD else {}),
    **({"tmpdir": tmp} if (tmp := default_tmpdir()) else {}),
}


def cluster_threads(request):
    """Threads of a job (resources.cluster_threads): `request` when submitted to a cluster, else
    every CPU there is."""
    return res.cluster_threads(
        request, workflow.cores, workflow.local_exec, workflow.remote_exec
    )


# Minutes a benchmark job may take on a scheduler: every attempt its run policy allows (None: no
# timeout, the partition's limit, before which the runner stops and records a timeout).
BENCH_RUNTIME = res.bench_runtime(run_policy(STUDY.run))


def build_threads(wildcards):
    return cluster_threads(res.build_threads(workflow.cores))


def build_mem_mb(wildcards, threads):
    return res.build_mem_mb(threads)


def model_threads(wildcards):
    """Writing a model is one thread; quantizing it uses several."""
    model = STUDY.model_by_dir[wildcards.model]
    return cluster_threads(res.build_threads(workflow.cores)) if model.quantizer else 1


def model_mem_mb(wildcards):
    model = STUDY.model_by_dir[wildcards.model]
    return res.model_mem_mb(model.quantizer is not None, model.shape.largest_tensor)


# How benchmark jobs run (timeout, retries, memory cap) and the interpreter that runs them reach
# each job through its environment, not its params (which Snakemake compares): a new policy or
# virtual environment applies to the jobs still to run and re-measures nothing.
# Under --sdm conda a job runs the Python of its own env; otherwise this run's interpreter.
JOB_PYTHON = (
    "python3"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable
)
os.environ.update(job_environment(STUDY.run, JOB_PYTHON))


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
    if model.quantizer:  # the first machine's build (models are made there)
        build = fill(
            paths.BUILD, machine=STUDY.machines[0].path, build=model.quantizer.dir
        )
        return [ancient(build)]
    return []
