"""Installing the Debian packages a test needs, where it can be done (root and apt-get)."""

import os
import shutil
import subprocess

# apt installs daemons into sbin, which a non-login PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class Unavailable(Exception):
    """The programs cannot be had here; the message says why (meant for pytest.skip)."""


def find_program(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def ensure_installed(programs: tuple[str, ...], packages: list[str]) -> None:
    """Install `packages` with apt-get if one of `programs` is missing; raise Unavailable if that can't be done."""
    if all(find_program(name) for name in programs):
        return
    wanted = " and ".join(packages)
    if os.geteuid() != 0:
        raise Unavailable(f"{wanted} not installed, and installing needs root")
    if not shutil.which("apt-get"):
        raise Unavailable(f"{wanted} not installed, and there is no apt-get to install with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode != 0:  # most often stale package lists: refresh them once, then retry
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
    missing = [name for name in programs if not find_program(name)]
    if missing:
        raise Unavailable(f"installing {wanted} failed (missing {', '.join(missing)}):\n"
                          f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
