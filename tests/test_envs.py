"""The conda env files and pyproject name what the code imports.

No conda channel is reachable where the tests run, so the envs cannot be solved here: this checks
what can be checked without one. Each env file parses, lists only pinned third-party packages
(the workflow's own package comes from its source folder), and names every third-party import
of the scripts and modules its rules run, followed through the package's own imports.
"""

import ast
import re
import sys
import tomllib

import pytest
import yaml
from conftest import ROOT

PACKAGE = "batchbench"
PACKAGE_OF = {"yaml": "pyyaml"}  # import name -> package name, where they differ
# What a Snakemake job brings itself (the script preamble imports snakemake from its own install).
PROVIDED = {"snakemake", "__future__"}


def package_module(name: str):
    parts = name.split(".")[1:]
    module = ROOT / "src" / PACKAGE / ("/".join(parts) + ".py")
    return module if parts and module.is_file() else None


def imports_of(path, seen: set | None = None) -> set[str]:
    """Packages of the third-party modules a file imports, followed through this package."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: inside the package
            names = [f"{PACKAGE}.{node.module}" if node.module else PACKAGE]
            names += [f"{names[0]}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == PACKAGE:
                for target in (package_module(name), ROOT / "src" / PACKAGE / "__init__.py"):
                    if target:
                        found |= imports_of(target, seen)
            elif top not in sys.stdlib_module_names and top not in PROVIDED:
                found.add(PACKAGE_OF.get(top, top).lower())
    return found


def rules() -> list[dict]:
    """Each rule's env file and the Python files it runs (its script, or a module it runs with -m)."""
    found = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            name = re.match(r"rule (\w+):", block)
            if not name:
                continue
            env = re.search(r'conda:\s*\n\s*"\.\./(envs/[\w.]+)"', block)
            script = re.search(r'script:\s*\n\s*"\.\./(scripts/[\w.]+)"', block)
            module = re.search(r"-m (batchbench(?:\.\w+)+)", block)
            runs = ([ROOT / script.group(1)] if script else []) + (
                [package_module(module.group(1))] if module else [])
            found.append({"rule": name.group(1), "env": env and env.group(1), "runs": runs})
    return found


def env_packages(path) -> dict[str, str]:
    """Package -> pinned version of a conda env file (conda and pip entries)."""
    env = yaml.safe_load((ROOT / path).read_text())
    entries = []
    for dep in env["dependencies"]:
        entries += dep["pip"] if isinstance(dep, dict) else [dep]
    pinned = {}
    for entry in entries:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:==?)\s*(\S+)", entry)
        assert match, f"{path}: {entry!r} is not a pinned package (name =version or name==version)"
        pinned[match.group(1).lower()] = match.group(2)
    return pinned


def test_every_rule_runs_in_an_env_that_parses_and_pins_everything():
    found = rules()
    assert len(found) >= 10 and all(r["env"] for r in found), [r["rule"] for r in found if not r["env"]]
    for env in {r["env"] for r in found}:
        assert "python" in env_packages(env)


@pytest.mark.parametrize("rule", [r for r in rules() if r["runs"]], ids=lambda r: r["rule"])
def test_env_names_every_import_of_what_its_rule_runs(rule):
    needed = set().union(*(imports_of(path) for path in rule["runs"]))
    missing = needed - set(env_packages(rule["env"]))
    assert not missing, f"{rule['env']} lacks {sorted(missing)}, imported by what rule {rule['rule']} runs"


def test_the_import_walk_finds_what_it_should():
    assert imports_of(ROOT / "scripts" / "plot_figures.py") >= {"matplotlib", "pandas", "numpy"}
    assert imports_of(ROOT / "src" / PACKAGE / "config_check.py") == {"jsonschema", "pyyaml"}
    assert imports_of(package_module("batchbench.bench_job")) == set()  # every job pays for imports


def test_pyproject_declares_every_import_of_the_package():
    declared = {re.split(r"[<>=!~\[ ]", d)[0].lower()
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    used = set().union(*(imports_of(p) for p in (ROOT / "src" / PACKAGE).glob("*.py")))
    assert used - declared == set(), f"pyproject.toml lacks {sorted(used - declared)}"
