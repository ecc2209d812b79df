"""The machines of a study (config key `machines`): where each job runs, and what its scheduler
is asked for to put it there."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass

from . import UserError
from .grid import path_segment
from .resources import EXCLUSIVE

# Config key -> the Snakemake SLURM executor's resource name that carries it.
SLURM_RESOURCES = {"partition": "slurm_partition", "account": "slurm_account", "constraint": "constraint",
                   "qos": "qos"}


@dataclass(frozen=True)
class Machine:
    name: str | None  # None: no `machines` key (jobs go where the executor sends them)
    dir: str = ""
    local: bool = False
    partition: str | None = None
    constraint: str | None = None
    account: str | None = None
    qos: str | None = None
    slurm_extra: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The machine's level in result paths ("" without machines, so those paths stay as they were)."""
        return f"{self.dir}/" if self.dir else ""

    @property
    def scheduled(self) -> bool:
        return bool(self.partition or self.constraint or self.account or self.qos or self.slurm_extra)


NO_MACHINE = Machine(None)


def from_config(entries: list[dict] | None) -> list[Machine]:
    """The configured machines, or the one unnamed machine when there is no `machines` key."""
    if not entries:
        return [NO_MACHINE]
    machines = []
    for i, entry in enumerate(entries):
        where = f"machines[{i}] ({entry['name']!r})"
        settings = {k: entry[k] for k in (*SLURM_RESOURCES, "slurm_extra") if entry.get(k)}
        if entry.get("local") and settings:
            raise UserError(f"{where}: `local: true` runs on the workflow's own machine and takes no "
                            f"scheduler settings; remove {', '.join(settings)} or `local`")
        if not entry.get("local") and not settings:
            raise UserError(f"{where}: say where it is: `local: true`, or at least one of "
                            f"{', '.join([*SLURM_RESOURCES, 'slurm_extra'])}")
        machines.append(Machine(entry["name"], path_segment(entry["name"]), bool(entry.get("local")),
                                partition=entry.get("partition"), constraint=entry.get("constraint"),
                                account=entry.get("account"), qos=entry.get("qos"),
                                slurm_extra=tuple(entry.get("slurm_extra") or ())))
    return machines


def slurm_resources(machine: Machine, exclusive: bool = False) -> dict[str, str | None]:
    """The SLURM executor's resources that put a job on this machine (None: not asked for).
    `exclusive`: the job takes its node alone (a timing must not share it)."""
    resources: dict[str, str | None] = {
        resource: getattr(machine, key) for key, resource in SLURM_RESOURCES.items()}
    extra = [*([EXCLUSIVE] if exclusive else []), *machine.slurm_extra]
    resources["slurm_extra"] = " ".join(shlex.quote(flag) for flag in extra) or None
    return resources


def partitions() -> set[str] | None:
    """The partitions the scheduler knows, or None where no scheduler answers."""
    if not shutil.which("sinfo"):
        return None
    try:
        result = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def check_partitions(machines: list[Machine], known: set[str] | None) -> None:
    """Every machine's partition must exist, where the scheduler told us which do."""
    if known is None:
        return
    for i, machine in enumerate(machines):
        if machine.partition and machine.partition not in known:
            raise UserError(f"machines[{i}].partition: {machine.partition!r} is not a partition of this "
                            f"cluster (sinfo); allowed: {', '.join(sorted(known)) or 'none'}")


def check_executor(machines: list[Machine], submitting: bool) -> None:
    """Scheduler settings need jobs submitted to a cluster; a local machine needs them run here
    (a cluster executor cannot run one rule's jobs on both)."""
    for i, machine in enumerate(machines):
        if machine.scheduled and not submitting:
            raise UserError(f"machines[{i}] ({machine.name!r}): scheduler settings need jobs submitted to a "
                            "cluster (e.g. --profile profiles/slurm); this run executes jobs on this machine")
        if machine.local and submitting:
            raise UserError(f"machines[{i}] ({machine.name!r}): `local: true` needs jobs run on this machine, "
                            "but this run submits them to a cluster; give the machine its partition instead")


def rule_resources(machines: list[Machine], machine_of, exclusive: bool) -> dict:
    """A rule's scheduler resources as functions of its wildcards (`machine_of` finds the job's
    machine), or values where every machine has the same: only the settings some machine has, so
    a site's default resources stay in force otherwise; slurm_extra also for an exclusive
    allocation."""
    wanted = [resource for key, resource in SLURM_RESOURCES.items() if any(getattr(m, key) for m in machines)]
    if exclusive or any(m.slurm_extra for m in machines):
        wanted.append("slurm_extra")
    out = {}
    for resource in wanted:
        values = {slurm_resources(m, exclusive)[resource] for m in machines}
        if len(values) == 1:  # the same for every job: a value, which costs planning nothing per job
            out[resource] = values.pop()
            continue

        def value(wildcards, resource=resource):
            return slurm_resources(machine_of(wildcards), exclusive)[resource]
        out[resource] = value
    return out
