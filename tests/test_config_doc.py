"""config/README.md is generated from the schema and up to date."""

import yaml
from conftest import ROOT

from batchbench.config_check import resolve_refs
from batchbench.config_doc import main, render, rows


def test_config_readme_is_up_to_date():
    assert main(["--check"]) == 0, "config/README.md is out of date: run python -m batchbench.config_doc"


def test_every_key_of_the_schema_is_described():
    schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    text = render()
    for key in [*schema["properties"], *schema["properties"]["run"]["properties"],
                *schema["properties"]["grid"]["properties"]]:
        assert f"{key}`" in text, key
    resolved = resolve_refs(schema, schema["definitions"])
    assert [key for key, _, _, meaning in rows(resolved) if not meaning] == []
    assert "| `grid.pp_shared` | true or false or a list of (true or false) | `false` | all sequences share" in text


def test_no_description_is_cut_by_a_comma_in_a_flow_mapping():
    """`{description: a, b}` is the description `a` and a stray key `b`."""
    stray = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and key != "default":
                    stray.append(f"{path}.{key}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text()), "")
    assert stray == []


def test_catalog_file_has_the_usage_the_catalog_expects():
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert {"desc", "flags"} <= set(usage["mandatory-flags"])
    assert usage["software-stack-deployment"] == {"conda": True, "apptainer": False, "apptainer+conda": False}
    assert (ROOT / "config" / "README.md").is_file() and (ROOT / "config" / "config.yaml").is_file()
