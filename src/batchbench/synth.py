"""Random-weight GGUF models of a real architecture, written tensor by tensor from a shape.

Weights do not change the speed of a dense model, so a synthetic model with the shape of
Qwen3-8B benchmarks like Qwen3-8B. Tensors are streamed to disk a bounded chunk at a time, so the F16
Qwen3-8B (about 16 GB) is written in constant memory, whatever its largest tensor.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import UserError
from .models import ModelShape

ARCHITECTURES = ("qwen3", "llama")
# llama-quantize accepts these names (a subset of its list; F16/F32 mean "leave as written").
QUANT_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q4_K_M",
               "Q4_K_S", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_XS")
GENERATOR_VERSION = 1  # bump when the written bytes change, so cached models are remade


# Shapes from the models' published config.json files.
PRESETS: dict[str, ModelShape] = {
    "qwen3-0.6b": ModelShape("qwen3", 28, 1024, 16, 8, 128, 3072, 151936, tied_embeddings=True),
    "qwen3-8b": ModelShape("qwen3", 36, 4096, 32, 8, 128, 12288, 151936),
    "llama-3.2-1b": ModelShape("llama", 16, 2048, 32, 8, 64, 8192, 128256, tied_embeddings=True,
                               n_ctx_train=131072, rope_freq_base=500000.0, rms_eps=1e-5),
    # The embedded default: fast enough for the seed grid on 2 cores, yet a decode step reads
    # about 96 MB in Q8_0 (the output layer over Qwen3's 151,936-token vocabulary, and the
    # blocks), nearly three times a 32 MiB last-level cache, so generation streams from memory.
    "tiny-qwen3": ModelShape("qwen3", 4, 512, 8, 4, 64, 1536, 151936),
}


@dataclass(frozen=True)
class SyntheticSpec:
    shape: ModelShape
    quant: str = "Q8_0"
    seed: int = 0
    generator: int = field(default=GENERATOR_VERSION)

    def key(self, quantizer_key: str = "") -> str:
        """Cache key: everything that decides the file's bytes."""
        text = json.dumps({"spec": asdict(self), "quantizer": quantizer_key}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def estimated_decode_bytes(shape: ModelShape, quant: str) -> float:
    """What a decode step of this shape reads in this quantization: every matrix but the token
    embedding (read one row per token) at the quant's base type, the norms in F32. llama.cpp's
    _M and _S mixes keep some tensors in larger types, so this is a few percent low for them."""
    import gguf

    base = {"Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q3_K_M": "Q3_K"}.get(quant, quant)
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[base]]
    total = 0.0
    for name, dims in shape.tensors():
        if name == "token_embd.weight" and not shape.tied_embeddings:
            continue
        n = float(np.prod(dims))
        total += n * 4 if len(dims) == 1 else n * size / block
    return total


def spec_from_config(entry: dict, where: str) -> SyntheticSpec:
    """Build a SyntheticSpec from a config `synthetic:` mapping (a preset and/or shape fields)."""
    entry = dict(entry)
    preset = entry.pop("preset", None)
    quant = entry.pop("quant", "Q8_0")
    seed = entry.pop("seed", 0)
    if preset is not None and preset not in PRESETS:
        raise UserError(f"{where}.preset: {preset!r} is not a preset; allowed: {', '.join(PRESETS)}")
    base = asdict(PRESETS[preset]) if preset else {}
    base.update(entry)
    missing = [f.name for f in fields(ModelShape) if f.name not in base and f.default is MISSING]
    if missing:
        raise UserError(f"{where}: missing shape fields {', '.join(missing)} (or give a preset: {', '.join(PRESETS)})")
    if base["arch"] not in ARCHITECTURES:
        raise UserError(f"{where}.arch: {base['arch']!r} is not supported; allowed: {', '.join(ARCHITECTURES)}")
    if quant not in QUANT_TYPES:
        raise UserError(f"{where}.quant: {quant!r} is not allowed; allowed: {', '.join(QUANT_TYPES)}")
    return SyntheticSpec(ModelShape(**base), quant=quant, seed=seed)


POOL_SIZE = 1 << 20


class TiledTensor:
    """A tensor of `n` values repeating `pool`, written to the file a pool at a time: memory
    stays at the pool's size (2 MiB in F16) however large the tensor (Qwen3-8B's F16 token
    embedding alone is 1.2 GiB). It offers what GGUFWriter.write_tensor_data uses of an array."""

    def __init__(self, pool: np.ndarray, n: int):
        self.pool, self.n = pool, n
        self.nbytes = n * pool.itemsize

    def tofile(self, fout) -> None:
        whole, rest = divmod(self.n, len(self.pool))
        for _ in range(whole):
            self.pool.tofile(fout)
        self.pool[:rest].tofile(fout)


def write_gguf(shape: ModelShape, path: Path, dtype: str = "F16", seed: int = 0) -> None:
    """Write a random-weight GGUF, tensor by tensor in bounded chunks (memory stays constant)."""
    import gguf

    weight_dtype = {"F16": np.float16, "F32": np.float32}[dtype]
    writer = gguf.GGUFWriter(str(path), shape.arch)
    arch = shape.arch
    writer.add_name(f"synthetic {arch}")
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_key_length(shape.head_dim)
    writer.add_value_length(shape.head_dim)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_freq_base)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_vocab_size(shape.n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "F16" else gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("none")

    tensors = shape.tensors()
    for name, tshape in tensors:
        tdtype = np.float32 if len(tshape) == 1 else weight_dtype
        nbytes = int(np.prod(tshape)) * np.dtype(tdtype).itemsize
        writer.add_tensor_info(name, tshape, np.dtype(tdtype), nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    # A pool of normal(0, 0.02) values tiled over each tensor: realistic magnitudes, no
    # denormals, and far faster than drawing billions of fresh numbers.
    pool = np.random.default_rng(seed).normal(0.0, 0.02, size=POOL_SIZE).astype(weight_dtype)
    for i, (_, tshape) in enumerate(tensors):
        if len(tshape) == 1:
            writer.write_tensor_data(np.ones(tshape, dtype=np.float32))
            continue
        writer.write_tensor_data(TiledTensor(np.roll(pool, i * 7919), int(np.prod(tshape))))
    writer.close()


def cached_model(spec: SyntheticSpec, key: str, cache_dir: Path, quantize_binary: str | None,
                 log, threads: int | None = None) -> tuple[Path, str]:
    """(path, sha256) of the model in the cache, synthesized first if it is not there."""
    from .cache import publish_once
    from .files import sha256_file

    entry = cache_dir / "models" / key

    def make(folder: Path) -> None:
        synthesize(spec, folder / "model.gguf", quantize_binary, log, threads)
        (folder / "model.sha256").write_text(sha256_file(folder / "model.gguf"))

    if not publish_once(entry, make, lambda e: (e / "model.sha256").is_file(), log):
        log.write(f"reusing the cached model {entry / 'model.gguf'}\n")
    return entry / "model.gguf", (entry / "model.sha256").read_text().strip()


def synthesize(spec: SyntheticSpec, out_path: Path, quantize_binary: str | None, log,
               threads: int | None = None) -> None:
    """Write the model to out_path (via a temporary F16 file when a quantization is asked for)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if spec.quant in ("F16", "F32"):
        tmp = out_path.with_suffix(".partial")
        write_gguf(spec.shape, tmp, spec.quant, spec.seed)
        tmp.replace(out_path)
        return
    if not quantize_binary:
        raise UserError(f"quant {spec.quant} needs llama-quantize, and no build provides it")
    f16 = out_path.with_suffix(".f16.partial")
    tmp = out_path.with_suffix(".partial")
    write_gguf(spec.shape, f16, "F16", spec.seed)
    try:
        # its threads: the job's, not every core of the node (its default)
        nthreads = [str(threads)] if threads else []
        subprocess.run([quantize_binary, str(f16), str(tmp), spec.quant, *nthreads], check=True,
                       stdout=log, stderr=subprocess.STDOUT)
    finally:
        f16.unlink(missing_ok=True)
    tmp.replace(out_path)
