"""config/README.md, generated from the config schema, so the two cannot drift.

    python -m batchbench.config_doc            # rewrite config/README.md
    python -m batchbench.config_doc --check    # exit 1 if it is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .config_check import resolve_refs, summary

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "config.schema.yaml"
OUTPUT = ROOT / "config" / "README.md"


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "\\<")


def rows(schema: dict, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, allowed, default, description) of every key, parents before their children."""
    out = []
    required = set(schema.get("required", []))
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else (
            "required" if key in required else "")
        out.append((f"`{path}`", summary(sub), default, sub.get("description", "")))
        if sub.get("type") == "object":
            out += rows(sub, path)
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            out += rows(sub["items"], f"{path}[]")
    return out


def render(schema_path: Path = SCHEMA) -> str:
    schema = yaml.safe_load(schema_path.read_text())
    schema = resolve_refs(schema, schema.get("definitions", {}))
    lines = [
        "# Configuration",
        "",
        "<!-- generated from schemas/config.schema.yaml by `python -m batchbench.config_doc`; "
        "do not edit -->",
        "",
        cell(schema.get("description", "")),
        "",
        "The shipped `config/config.yaml` is the default: the workflow finds it from any folder. Give "
        "your own with `--configfile FILE` (its keys replace the default's) or set single keys with "
        "`--config KEY=VALUE`. Every key is checked against the schema before any job runs; a "
        "mistake is named by its key with the values allowed.",
        "",
        "| key | allowed | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {key} | {cell(allowed)} | {default} | {cell(text)} |"
              for key, allowed, default, text in rows(schema)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python -m batchbench.config_doc", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
