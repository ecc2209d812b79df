import pytest

from batchbench.models import ModelShape, describe
from batchbench.synth import POOL_SIZE, PRESETS, estimated_decode_bytes, spec_from_config, write_gguf


def test_qwen3_8b_preset_has_qwen3_8b_parameters():
    # Qwen3-8B: 8.19e9 parameters (36 layers, 4096 wide, untied 151936-token embeddings)
    assert PRESETS["qwen3-8b"].n_params == pytest.approx(8.19e9, rel=0.01)
    assert PRESETS["qwen3-0.6b"].n_params == pytest.approx(0.596e9, rel=0.01)


def test_a_decode_step_of_the_default_model_reads_at_least_twice_a_32mib_cache():
    # what a decode step reads, not the file: the token embedding is read one row per token
    assert estimated_decode_bytes(PRESETS["tiny-qwen3"], "Q8_0") >= 2 * 32 * 2**20


def test_the_decode_bytes_estimate_matches_a_written_file(tmp_path):
    shape = ModelShape("qwen3", 2, 64, 4, 2, 16, 128, 256)
    write_gguf(shape, tmp_path / "m.gguf", "F16")
    assert estimated_decode_bytes(shape, "F16") == describe(str(tmp_path / "m.gguf"), "m")["decode_bytes"]


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_written_gguf_reads_back(tmp_path, arch):
    shape = ModelShape(arch, 2, 64, 4, 2, 16, 128, 256)
    path = tmp_path / "m.gguf"
    write_gguf(shape, path, "F16")
    info = describe(str(path), "m")
    assert info["arch"] == arch and info["quant"] == "F16"
    assert info["n_params"] == shape.n_params
    assert (info["n_layer"], info["n_head_kv"], info["head_dim"], info["n_vocab"]) == (2, 2, 16, 256)
    assert len(info["sha256"]) == 64 and info["bytes"] == path.stat().st_size


def test_spec_from_preset_and_overrides():
    spec = spec_from_config({"preset": "qwen3-8b", "n_layer": 2, "quant": "Q4_K_M"}, "models[0].synthetic")
    assert spec.shape.n_layer == 2 and spec.shape.n_embd == 4096 and spec.quant == "Q4_K_M"
    assert spec.key() != spec_from_config({"preset": "qwen3-8b", "n_layer": 3}, "x").key()


def test_streamed_tensors_hold_the_same_values_as_whole_arrays(tmp_path):
    """Written a pool at a time, a tensor larger than the pool has the values of the in-memory
    formula it replaced (np.resize of the rolled pool), so cached models keep their bytes."""
    import gguf
    import numpy as np

    shape = ModelShape("llama", 1, 320, 4, 2, 80, 64, 4096)  # token_embd: 1.3 pools
    assert shape.n_vocab * shape.n_embd > POOL_SIZE
    path = tmp_path / "m.gguf"
    write_gguf(shape, path, "F16", seed=3)
    pool = np.random.default_rng(3).normal(0.0, 0.02, size=POOL_SIZE).astype(np.float16)
    tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    for i, (name, tshape) in enumerate(shape.tensors()):
        if len(tshape) == 2:
            expected = np.resize(np.roll(pool, i * 7919), int(np.prod(tshape)))
            assert np.array_equal(np.asarray(tensors[name].data).ravel(), expected), name
