import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def default_config() -> dict:
    """The shipped config/config.yaml, with the schema's defaults applied as Snakemake does."""
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"), set_default=True)
    return copy.deepcopy(config)
