"""A model: its shape (ModelShape), a model of the config (Model), and what a GGUF file says of
itself (architecture, shape, parameters, file type, bytes, sha256)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import UserError
from .files import sha256_file

if TYPE_CHECKING:
    from .build import Build
    from .synth import SyntheticSpec

GGUF_MAGIC = b"GGUF"
# Approximate bytes per weight of each file type, for memory estimates before a model exists.
BYTES_PER_WEIGHT = {"F32": 4.0, "F16": 2.0, "BF16": 2.0, "Q8_0": 1.0625, "Q6_K": 0.82,
                    "Q5_K_M": 0.69, "Q5_K_S": 0.69, "Q5_0": 0.69, "Q4_K_M": 0.61, "Q4_K_S": 0.57,
                    "Q4_0": 0.5625, "Q3_K_M": 0.49, "Q2_K": 0.33, "IQ4_XS": 0.53}


@dataclass(frozen=True)
class ModelShape:
    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    tied_embeddings: bool = False
    n_ctx_train: int = 40960
    rope_freq_base: float = 1000000.0
    rms_eps: float = 1e-6

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, numpy shape) of every tensor, in llama.cpp's naming."""
        q, kv = self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        out: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (self.n_vocab, self.n_embd))]
        for i in range(self.n_layer):
            blk = f"blk.{i}."
            out += [
                (blk + "attn_norm.weight", (self.n_embd,)),
                (blk + "attn_q.weight", (q, self.n_embd)),
                (blk + "attn_k.weight", (kv, self.n_embd)),
                (blk + "attn_v.weight", (kv, self.n_embd)),
                (blk + "attn_output.weight", (self.n_embd, q)),
                (blk + "ffn_norm.weight", (self.n_embd,)),
                (blk + "ffn_gate.weight", (self.n_ff, self.n_embd)),
                (blk + "ffn_up.weight", (self.n_ff, self.n_embd)),
                (blk + "ffn_down.weight", (self.n_embd, self.n_ff)),
            ]
            if self.arch == "qwen3":
                out += [(blk + "attn_q_norm.weight", (self.head_dim,)),
                        (blk + "attn_k_norm.weight", (self.head_dim,))]
        out.append(("output_norm.weight", (self.n_embd,)))
        if not self.tied_embeddings:
            out.append(("output.weight", (self.n_vocab, self.n_embd)))
        return out

    @cached_property
    def n_params(self) -> int:
        return sum(int(np.prod(shape)) for _, shape in self.tensors())

    @cached_property
    def largest_tensor(self) -> int:
        """Values of the largest tensor (what llama-quantize holds in memory at once)."""
        return max(int(np.prod(shape)) for _, shape in self.tensors())

    @cached_property
    def n_params_matmul(self) -> int:
        """Parameters multiplied per token (all but the embedding lookup and the norms)."""
        return sum(int(np.prod(s)) for n, s in self.tensors()
                   if len(s) == 2 and n != "token_embd.weight") + (
            self.n_vocab * self.n_embd if self.tied_embeddings else 0)


@dataclass
class Model:
    name: str
    dir: str
    shape: ModelShape
    bytes: int
    path: str | None = None           # a given file
    synthetic: SyntheticSpec | None = None
    key: str | None = None            # cache key of a synthetic model
    quantizer: Build | None = None
    identity: str = ""                # what its measurements depend on: key, or the file's sha256


def check_gguf(path: str, where: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{where}: model file {path!r} does not exist")
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise UserError(f"{where}: {path!r} is not a GGUF file (it starts with {magic!r}, "
                        f"a GGUF file with {GGUF_MAGIC!r})")
    import gguf

    try:  # the header and every tensor's place in the file (memory-mapped: no data is read)
        gguf.GGUFReader(str(p))
    except Exception as exc:  # the gguf package raises plain ValueErrors and others
        raise UserError(f"{where}: {path!r} is a GGUF file cut short or corrupt ({exc})") from exc


def read_shape(path: str) -> tuple[ModelShape, dict]:
    """The model's shape and its other metadata, from the GGUF header alone."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # the gguf package raises plain ValueErrors and others
        raise UserError(f"model {path!r} could not be read as GGUF: {exc}") from exc

    def field(key, default=None):
        f = reader.get_field(key)
        return f.contents() if f is not None else default

    arch = field("general.architecture")
    n_embd = field(f"{arch}.embedding_length")
    n_head = field(f"{arch}.attention.head_count")
    head_dim = field(f"{arch}.attention.key_length") or (n_embd // n_head if n_embd and n_head else None)
    tensors = {t.name: t for t in reader.tensors}
    emb = tensors.get("token_embd.weight")
    n_vocab = field(f"{arch}.vocab_size") or (int(emb.shape[-1]) if emb is not None else 0)
    n_ff = field(f"{arch}.feed_forward_length")
    shape = ModelShape(
        arch=arch, n_layer=field(f"{arch}.block_count"), n_embd=n_embd, n_head=n_head,
        n_head_kv=field(f"{arch}.attention.head_count_kv", n_head), head_dim=head_dim,
        n_ff=n_ff[0] if isinstance(n_ff, list) else n_ff, n_vocab=n_vocab,
        tied_embeddings="output.weight" not in tensors,
    )
    file_type = field("general.file_type")
    output = tensors.get("output.weight", emb)
    extra = {
        "n_params": int(sum(int(t.n_elements) for t in reader.tensors)),
        # what a token's forward pass multiplies by (the output only for tokens that need logits)
        "block_params": int(sum(int(t.n_elements) for t in reader.tensors
                                if t.name.startswith("blk.") and len(t.shape) > 1)),
        "output_params": int(output.n_elements) if output is not None else 0,
        # what a decode step reads: every tensor but the token embedding's unused rows
        "decode_bytes": int(sum(int(t.n_bytes) for t in reader.tensors
                                if t.name != "token_embd.weight" or "output.weight" not in tensors)),
        "file_type": gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_") if file_type is not None else None,
    }
    return shape, extra


def describe(path: str, name: str, sha256: str | None = None) -> dict:
    shape, extra = read_shape(path)
    return {
        "name": name,
        "path": str(Path(path).resolve()),
        "bytes": Path(path).stat().st_size,
        "sha256": sha256 or sha256_file(Path(path)),
        "arch": shape.arch,
        "quant": extra["file_type"],
        "n_params": extra["n_params"],
        "block_params": extra["block_params"],
        "output_params": extra["output_params"],
        "decode_bytes": extra["decode_bytes"],
        "n_layer": shape.n_layer,
        "n_embd": shape.n_embd,
        "n_head": shape.n_head,
        "n_head_kv": shape.n_head_kv,
        "head_dim": shape.head_dim,
        "n_ff": shape.n_ff,
        "n_vocab": shape.n_vocab,
    }
