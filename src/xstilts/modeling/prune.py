"""Smaller copies of a Unigram-vocabulary model: only the vocabulary pieces some texts use, optionally fewer layers.

The word embeddings are most of a multilingual encoder's parameters (96M of multilingual-e5-small's 117M), so a copy
pruned to the pieces of an experiment's own texts fine-tunes much faster and tokenizes those texts identically.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from xstilts.atomic import atomic_directory, atomic_write_json
from xstilts.errors import UserError


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
        raise UserError(
            f"prune_vocabulary supports Unigram tokenizers, not {tok_json['model']['type']}", path=str(tok_path)
        )
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
        atomic_write_json(scratch / "tokenizer.json", tok_json)
        atomic_write_json(scratch / "tokenizer_config.json", tok_config)
        atomic_write_json(scratch / "config.json", config)
        save_file(state, str(scratch / "model.safetensors"), metadata={"format": "pt"})
        for extra in ("special_tokens_map.json", "README.md", "source.json"):
            if (src / extra).is_file():
                shutil.copy2(src / extra, scratch / extra)
        atomic_write_json(scratch / "pruned_from.json", {"model_dir": str(src), "layers": layers, "kept_ids": kept})
    return out
