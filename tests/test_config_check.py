"""Every config mistake is refused before any job, naming the key, the value and what is allowed."""

import copy

import pytest
import yaml
from conftest import ROOT

from batchbench import UserError
from batchbench.config_check import check

SCHEMA = ROOT / "schemas" / "config.schema.yaml"
# (what is wrong, the change, words the message must hold); the README's table lists these.
BAD_INPUTS = [
    ("misspelt top-level key", lambda c: c.update(expriment="x"),
     ["unknown key 'expriment'", "did you mean 'experiment'"]),
    ("analysis key in American spelling", lambda c: c.update(analysis={"anonymize": True}),
     ["analysis", "'anonymize'", "did you mean 'anonymise'"]),
    ("zero noise limit", lambda c: c.update(analysis={"max_cv": 0}), ["analysis.max_cv", "a number > 0"]),
    ("misspelt grid key", lambda c: c["grid"].update(nppp=[1]), ["grid", "'nppp'", "did you mean 'npp'"]),
    ("zero in npl", lambda c: c["grid"].update(npl=[1, 0, 4]), ["grid.npl", "[1, 0, 4]", "integer >= 1"]),
    ("empty npp", lambda c: c["grid"].update(npp=[]), ["grid.npp", "[]"]),
    ("flash_attn: yes", lambda c: c["grid"].update(flash_attn="yes"), ["grid.flash_attn", "'on', 'off', 'auto'"]),
    ("ctx: big", lambda c: c["grid"].update(ctx="big"), ["grid.ctx", "'big'", "'auto'"]),
    ("threads: two", lambda c: c["grid"].update(threads="two"), ["grid.threads", "'two'", "integer >= 1"]),
    ("repetitions: 0", lambda c: c["grid"].update(repetitions=0), ["grid.repetitions", "0", ">= 1"]),
    ("unknown quant", lambda c: c["models"][0]["synthetic"].update(quant="Q9"),
     ["models[0].synthetic.quant", "'Q9'", "'Q8_0'"]),
    ("unknown quant of a predicted shape",
     lambda c: c["analysis"].update(predict=[{"preset": "qwen3-8b", "quant": "Q9"}]),
     ["analysis.predict[0].quant", "'Q9'", "'Q4_K_M'"]),
    ("model with neither path nor shape", lambda c: c["models"].append({"name": "x"}),
     ["models[1]", "exactly one of 'path', 'synthetic'"]),
    ("build with source and binaries", lambda c: c["builds"][0].update(binaries={"batched_bench": "/x"}),
     ["builds[0]", "exactly one of 'source', 'binaries'"]),
    ("experiment with a slash", lambda c: c.update(experiment="a/b"), ["experiment", "'a/b'"]),
    ("negative timeout", lambda c: c["run"].update(timeout_s=-1), ["run.timeout_s", "-1", "> 0"]),
    ("models not a list", lambda c: c.update(models="qwen"), ["models", "'qwen'", "a list"]),
]


@pytest.mark.parametrize("what,mutate,words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_schema_mistakes_name_key_value_and_allowed(what, mutate, words):
    config = copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    mutate(config)
    with pytest.raises(UserError) as err:
        check(config, SCHEMA)
    for word in words:
        assert word in str(err.value), (what, str(err.value))


def test_the_shipped_config_passes():
    check(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)


def test_every_mistake_is_listed_at_once():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["grid"].update(npl=0, flash_attn="yes")
    with pytest.raises(UserError) as err:
        check(config, SCHEMA)
    assert "grid.npl" in str(err.value) and "grid.flash_attn" in str(err.value)
