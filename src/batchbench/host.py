"""Facts about the machine a job runs on, read cheaply at job start."""

from __future__ import annotations

import os
import subprocess


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _which(program: str) -> str | None:
    """shutil.which, without importing shutil into every job."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def cpu_model() -> str | None:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def mem_total_bytes() -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def gpus() -> tuple[str | None, str | None]:
    """(GPU models, driver) from nvidia-smi, where there is one."""
    if not _which("nvidia-smi"):
        return None, None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    rows = [line.split(",") for line in out.strip().splitlines() if "," in line]
    if not rows:
        return None, None
    return "; ".join(r[0].strip() for r in rows), rows[0][1].strip()


def facts() -> dict:
    gpu, driver = gpus()
    return {
        "host_name": os.uname().nodename,  # what socket.gethostname() returns
        "host_cpu": cpu_model(),
        "host_cores": os.cpu_count(),
        "host_mem_bytes": mem_total_bytes(),
        "host_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "host_load1": os.getloadavg()[0],
        "host_gpu": gpu,
        "host_gpu_driver": driver,
        "job_scheduler": "slurm" if os.environ.get("SLURM_JOB_ID") else "local",
        "job_id": os.environ.get("SLURM_JOB_ID"),
        "job_node": os.environ.get("SLURMD_NODENAME"),
    }
