"""The schema's enums and defaults are the code's (as pypsa-eur's test_config_schema.py checks):
a value added to one and not the other fails here, not in a user's run."""

import dataclasses

import pytest
import yaml
from conftest import ROOT

from batchbench.analysis.combinations import Thresholds
from batchbench.build import DEFAULT_CMAKE_FLAGS, DEFAULT_PATCHES, SDIST_SUBDIR
from batchbench.kv_cache import CACHE_TYPE_BYTES
from batchbench.llama_options import FLASH_ATTN, OPTIONS, SWITCHES
from batchbench.models import BYTES_PER_WEIGHT
from batchbench.policy import DEFAULTS
from batchbench.synth import ARCHITECTURES, PRESETS, QUANT_TYPES, SyntheticSpec

SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
PROPS = SCHEMA["properties"]
SHAPE = SCHEMA["definitions"]["model_shape"]["properties"]
GRID = PROPS["grid"]["properties"]
BUILD = PROPS["builds"]["items"]["properties"]


def enum_of(node: dict) -> list:
    """The enum of a value, or of the first alternative of a oneOf that has one."""
    if "enum" in node:
        return node["enum"]
    return next(alt["enum"] for alt in node["oneOf"] if "enum" in alt)


def test_quantization_types():
    assert SHAPE["quant"]["enum"] == list(QUANT_TYPES)
    assert set(BYTES_PER_WEIGHT) == set(QUANT_TYPES)  # every type has a size for the plan's memory estimate
    assert SHAPE["quant"]["default"] == SyntheticSpec.__dataclass_fields__["quant"].default
    assert SHAPE["seed"]["default"] == SyntheticSpec.__dataclass_fields__["seed"].default


def test_architectures_and_presets():
    assert SHAPE["arch"]["enum"] == list(ARCHITECTURES)
    description = SCHEMA["definitions"]["model_shape"]["description"]
    assert all(name in description for name in PRESETS)


def test_kv_cache_types():
    cache_type = SCHEMA["definitions"]["cache_type"]
    assert enum_of(cache_type) == list(CACHE_TYPE_BYTES)
    assert next(a for a in cache_type["oneOf"] if a.get("type") == "array")["items"]["enum"] == list(CACHE_TYPE_BYTES)


def test_grid_options_are_llama_options():
    """Every grid key but the sweep axes, repetitions and extra arguments is an option with a flag,
    which its description names."""
    own = {"npp", "ntg", "npl", "repetitions", "extra_args"}
    assert set(GRID) - own == set(OPTIONS)
    for key, (flag, _) in OPTIONS.items():
        assert flag in GRID[key]["description"], key
    assert enum_of(GRID["flash_attn"]) == list(FLASH_ATTN)
    assert all(GRID[key]["default"] is False for key in SWITCHES)


def test_run_policy_defaults():
    """The run policy's defaults (remeasure and the verdict's limits among them) are the schema's."""
    run = PROPS["run"]["properties"]
    assert {k: run[k]["default"] for k in DEFAULTS} == DEFAULTS


def test_build_defaults():
    assert BUILD["cmake_flags"]["default"] == list(DEFAULT_CMAKE_FLAGS)
    assert BUILD["patches"]["default"] == list(DEFAULT_PATCHES)
    assert all((ROOT / p).is_file() for p in DEFAULT_PATCHES)
    sdist = BUILD["source"]["properties"]["pypi_sdist"]["properties"]
    assert sdist["subdir"]["default"] == SDIST_SUBDIR


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Thresholds)])
def test_analysis_thresholds(field):
    analysis = PROPS["analysis"]["properties"]
    schema = analysis["min_time_ms"]["default"] / 1000 if field == "min_time_s" else analysis[field]["default"]
    assert schema == getattr(Thresholds(), field)
