"""A real one-node SLURM cluster on localhost, for tests.

Everything (config, munge key and socket, state, spool, logs) lives in one temporary folder, and the
daemons are tracked by their process ids, so the cluster never touches a system-wide SLURM or munge
and stops only what it started. Use it as a context manager, or as a pytest fixture:

    slurm = slurm_cluster_fixture(scope="module")      # in a test module

    def test_something_slurm(slurm):
        subprocess.run(["sbatch", "--wrap", "hostname"], env=slurm.env, check=True)
"""

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian import SEARCH_PATH, Unavailable, ensure_installed, find_program

DAEMONS = ("slurmctld", "slurmd", "munged")
STARTUP_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
# Two partitions over the one node (the first is the default): a study of two "machines" runs as
# shipped on it.
PARTITIONS = ("debug", "second")


SlurmUnavailable = Unavailable


@dataclass
class SlurmCluster:
    env: dict[str, str]  # os.environ plus SLURM_CONF: pass it to every sbatch/squeue/snakemake call
    conf: Path
    node: str
    cpus: int
    mem_mb: int
    tmp_dir: Path
    partitions: tuple[str, ...] = PARTITIONS


def ensure_slurm_installed() -> None:
    """Install Debian's slurm-wlm and munge if a daemon is missing; raise SlurmUnavailable if that can't be done."""
    ensure_installed(DAEMONS, ["slurm-wlm", "munge"])


def slurm_cluster_fixture(scope: str = "module"):
    """A pytest fixture with a running cluster for the given scope; it skips the tests if SLURM can't be had."""

    @pytest.fixture(scope=scope)
    def slurm(tmp_path_factory) -> Iterator[SlurmCluster]:
        try:
            ensure_slurm_installed()
        except SlurmUnavailable as error:
            pytest.skip(str(error))
        # A short path: munge's socket path must fit in 108 bytes.
        with slurm_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
            yield cluster

    return slurm


@contextmanager
def slurm_cluster(tmp_dir: Path) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd with everything inside tmp_dir; stop them again on exit."""
    tmp_dir = Path(tmp_dir).resolve()
    node = socket.gethostname().split(".")[0]  # what slurmd takes as its own node name (hostname -s)
    cpus = os.cpu_count() or 1
    mem_mb = total_memory_mb() - 1024  # room for the OS; a node with less than declared gets drained
    munge_socket = tmp_dir / "munge.socket"
    conf = tmp_dir / "slurm.conf"
    conf.write_text(slurm_conf(tmp_dir, node, cpus, mem_mb, munge_socket))
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{client_wrappers(tmp_dir, conf)}{os.pathsep}{SEARCH_PATH}"}

    for folder in ("state", "spool"):
        (tmp_dir / folder).mkdir(exist_ok=True)

    with ExitStack() as stack:
        daemons = Daemons(tmp_dir, stack)
        start_munged(daemons, munge_socket)
        daemons.start(["slurmctld", "-D", "-f", str(conf)], env)
        daemons.wait_for(lambda: run_quiet(["sinfo", "-h"], env), "slurmctld to answer")
        daemons.start(["slurmd", "-D", "-f", str(conf)], env)
        daemons.wait_for(lambda: node_state(env) == {"idle"}, f"node {node} to become idle")
        # Registered last, so it runs first: jobs end while slurmd can still kill their processes.
        stack.callback(cancel_all_jobs, env, tmp_dir / "spool", node)
        yield SlurmCluster(env=env, conf=conf, node=node, cpus=cpus, mem_mb=mem_mb, tmp_dir=tmp_dir)


def client_wrappers(tmp_dir: Path, conf: Path) -> Path:
    """A folder of SLURM client commands that always find this cluster's config.

    Snakemake's job-step executor strips every SLURM_* variable (SLURM_CONF too) before its
    nested srun; a real cluster's clients find /etc/slurm/slurm.conf instead, ours this one."""
    folder = tmp_dir / "bin"
    folder.mkdir(exist_ok=True)
    for tool in ("srun", "sbatch", "squeue", "scontrol", "scancel", "sinfo"):
        real = find_program(tool)
        if real:
            wrapper = folder / tool
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {real} "$@"\n')
            wrapper.chmod(0o755)
    return folder


def slurm_conf(tmp_dir: Path, node: str, cpus: int, mem_mb: int, munge_socket: Path) -> str:
    ctld_port, slurmd_port = free_port(), free_port()  # never clash with a real cluster's 6817/6818
    return f"""\
ClusterName=test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
# Our own munged, not the system one.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
# Plain processes, no cgroups, no accounting: works in containers and VMs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Cores and memory are both consumable, so memory requests are tracked and enforced at scheduling.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Finished jobs stay visible to squeue/scontrol for an hour (Snakemake asks squeue for their state).
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=10
SlurmdTimeout=10
KillWait=5
InactiveLimit=0
MailProg=/bin/true
StateSaveLocation={tmp_dir}/state
SlurmdSpoolDir={tmp_dir}/spool
SlurmctldPidFile={tmp_dir}/slurmctld.pid
SlurmdPidFile={tmp_dir}/slurmd.pid
SlurmctldLogFile={tmp_dir}/slurmctld.log
SlurmdLogFile={tmp_dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={PARTITIONS[0]} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName={PARTITIONS[1]} Nodes=ALL MaxTime=INFINITE State=UP
"""


class Daemons:
    """The daemons we started, as our own children: we know their pids and stop exactly those."""

    def __init__(self, tmp_dir: Path, stack: ExitStack):
        self.tmp_dir = tmp_dir
        self.stack = stack
        self.processes: list[subprocess.Popen] = []

    def start(self, command: list[str], env: dict) -> None:
        """Run a daemon in the foreground (no forking away), output to NAME.out; it stops when the stack unwinds."""
        name = command[0]
        with open(self.tmp_dir / f"{name}.out", "w") as out:
            process = subprocess.Popen([find_program(name), *command[1:]], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       preexec_fn=die_with_parent)
        self.processes.append(process)
        self.stack.callback(stop_process, process)

    def wait_for(self, condition, what: str) -> None:
        """Wait until condition() holds; fail early, with the logs, if a daemon died or it takes too long."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not condition():
            dead = [Path(p.args[0]).name for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"timed out after {STARTUP_TIMEOUT_S} s"
                raise RuntimeError(f"SLURM test cluster: {why} waiting for {what}\n{daemon_logs(self.tmp_dir)}")
            time.sleep(0.5)


def start_munged(daemons: Daemons, munge_socket: Path) -> None:
    tmp_dir = daemons.tmp_dir
    key = tmp_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)  # munged refuses a key that others can read
    command = ["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={munge_socket}",
               f"--pid-file={tmp_dir / 'munged.pid'}", f"--log-file={tmp_dir / 'munged.log'}",
               f"--seed-file={tmp_dir / 'munged.seed'}"]
    daemons.start(command, dict(os.environ))
    daemons.wait_for(munge_socket.exists, "munged to open its socket")


def die_with_parent() -> None:
    """Ask Linux to SIGTERM the daemon if the test process dies without cleaning up (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cancel_all_jobs(env: dict, spool: Path, node: str) -> None:
    """Cancel the jobs still queued or running on this (our own) cluster, and wait until their slurmstepd are gone."""
    jobs = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True).stdout.split()
    if jobs:
        subprocess.run(["scancel", *jobs], env=env, capture_output=True)
    # Each running step has a socket NODE_JOB.STEP in the spool folder until its slurmstepd exits.
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while list(spool.glob(f"{node}_*")) and time.monotonic() < deadline:
        time.sleep(0.2)


def node_state(env: dict) -> set[str]:
    """The node's states, as each partition shows it."""
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
    return set(result.stdout.split())


def run_quiet(command: list[str], env: dict) -> bool:
    return subprocess.run(command, env=env, capture_output=True).returncode == 0


def daemon_logs(tmp_dir: Path) -> str:
    """The ends of the daemons' logs, to explain a failed start."""
    parts = []
    for log in sorted([*tmp_dir.glob("*.log"), *tmp_dir.glob("*.out")]):
        parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)


def total_memory_mb() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
