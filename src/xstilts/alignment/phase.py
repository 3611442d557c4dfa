"""The alignment phase: load the start (a model or a phase checkpoint, heads kept), read each language's pairs, link
the words where the corpus has no links, measure the diagnostics, align, measure again, and write a checkpoint like any
phase (encoder, heads, phase.json with the job, the corpus counts, the link method, the loop and the diagnostics)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from xstilts import __version__
from xstilts.alignment.corpus import Corpus, Pair, read_corpus
from xstilts.alignment.diagnostics import word_distances
from xstilts.alignment.train import ContinualAlignment, align_encoder, frozen_copy
from xstilts.alignment.vectors import argmax_links, default_link_layer
from xstilts.atomic import atomic_directory
from xstilts.integrity import write_record
from xstilts.jobs import PHASE_RECORD
from xstilts.modeling.model import MultiTaskModel, is_checkpoint, load_checkpoint, load_encoder, save_checkpoint


def load_start(start: str, trust_remote_code: bool = False) -> tuple[MultiTaskModel, Any]:
    """The model an alignment phase starts from: a checkpoint with its heads, or a model with none."""
    if is_checkpoint(start):
        return load_checkpoint(Path(start), keep_heads=True, trust_remote_code=trust_remote_code, pooler="auto")
    encoder, tokenizer = load_encoder(start, trust_remote_code=trust_remote_code, pooler="auto")
    return MultiTaskModel(encoder), tokenizer


def linked_corpora(
    corpus: str, languages: list[str], settings: dict[str, Any], reference: Any, tokenizer: Any
) -> tuple[dict[str, list[Pair]], dict[str, Any]]:
    """Each language's pairs with links: as the corpus gives them, else the reference model's argmax links (pairs
    left without a link are skipped). Returns the pairs and what was done (counts, link method, layer)."""
    layer = settings["link_layer"] or default_link_layer(int(reference.config.num_hidden_layers))
    out, info = {}, {}
    for lang in languages:
        c: Corpus = read_corpus(
            corpus, lang, many=len(languages) > 1, max_words=int(settings["max_words"]), max_pairs=settings["max_pairs"]
        )
        missing = [p for p in c.pairs if p.links is None]
        method = "given" if not missing else "argmax"
        if missing:
            links = argmax_links(
                reference,
                tokenizer,
                [(p.words, p.english) for p in missing],
                layer,
                settings["word_vectors"],
                int(settings["max_seq_length"]),
            )
            for p, ln in zip(missing, links, strict=True):
                p.links = ln
        pairs = [p for p in c.pairs if p.links]
        out[lang] = pairs
        info[lang] = {
            **c.summary(),
            "no_links": c.counts["no_links"] + len(c.pairs) - len(pairs),
            "kept": len(pairs),
            "links": sum(len(p.links or []) for p in pairs),
            "link_method": method,
            **({"link_layer": layer} if method == "argmax" else {}),
        }
    return out, info


def diagnostics(
    encoder: Any, reference: Any, tokenizer: Any, heldout: dict[str, list[Pair]], settings: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """The word-distance diagnostics per language on the held-out pairs."""
    return {
        lang: word_distances(
            encoder, reference, tokenizer, pairs, settings["word_vectors"], int(settings["max_seq_length"])
        )
        for lang, pairs in heldout.items()
    }


class Reference:
    """The pretrained model every diagnostic and computed link is measured with (loaded once, never trained)."""

    def __init__(self, path: str, trust_remote_code: bool = False, loaded: Any | None = None):
        self.path = path
        self._encoder = loaded
        self.trust_remote_code = trust_remote_code

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            encoder, _ = load_encoder(self.path, trust_remote_code=self.trust_remote_code, pooler="auto")
            self._encoder = frozen_copy(encoder)
        return self._encoder


def heldout_pairs(job: dict[str, Any], reference: Any, tokenizer: Any) -> dict[str, list[Pair]]:
    """The diagnostics' held-out pairs, linked (by the reference when the files have no links)."""
    settings = {**job["settings"], "max_pairs": None}
    return linked_corpora(job["heldout"], job["languages"], settings, reference, tokenizer)[0]


def run_alignment(job: dict[str, Any], start: str, out_dir: str | Path, reference: str, progress: bool = True) -> Path:
    """Run one alignment job from `start` into `out_dir` (returns at once when complete). `reference`: the pretrained
    model (links and English drift are measured with it; the start itself when the phase starts from the model)."""
    out = Path(out_dir)
    if (out / PHASE_RECORD).is_file():
        return out
    t0 = time.time()
    torch.manual_seed(int(job["seed"]))
    model, tokenizer = load_start(start, bool(job["trust_remote_code"]))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    base = frozen_copy(model.encoder)  # where the phase starts: the regularizer's target and "before"
    ref = Reference(reference, bool(job["trust_remote_code"]), base if reference == start else None)
    settings = dict(job["settings"])
    corpora, corpus_info = linked_corpora(job["corpus"], job["languages"], settings, ref.encoder.to(device), tokenizer)
    heldout = heldout_pairs(job, ref.encoder.to(device), tokenizer) if job["heldout"] else {}
    before = diagnostics(base, ref.encoder, tokenizer, heldout, settings) if heldout else {}
    loop = align_encoder(model.encoder, tokenizer, corpora, settings, int(job["seed"]), progress=progress, base=base)
    after = diagnostics(model.encoder, ref.encoder, tokenizer, heldout, settings) if heldout else {}
    model.to("cpu")
    with atomic_directory(out) as tmp:
        save_checkpoint(model, tokenizer, tmp, base=start)
        record = {
            "xstilts_version": __version__,
            "job": job,
            "start": start,
            "reference": reference,
            "data": corpus_info,
            "train": loop,
            "diagnostics": {"before": before, "after": after},
            "seconds": time.time() - t0,
        }
        write_record(tmp, PHASE_RECORD, record)
    return out


def continual_factory(job: dict[str, Any], reference: str, trust_remote_code: bool = False) -> Any:
    """For a target phase with `continual`: (model, tokenizer) -> a ContinualAlignment over the corpus, its pairs
    linked by the reference model as the alignment phase linked them."""

    def make(model: Any, tokenizer: Any) -> ContinualAlignment:
        ref = Reference(reference, trust_remote_code)
        ref_encoder = ref.encoder.to(next(model.encoder.parameters()).device)
        corpora, _ = linked_corpora(job["corpus"], job["languages"], job["settings"], ref_encoder, tokenizer)
        return ContinualAlignment(model.encoder, tokenizer, corpora, job["settings"], int(job["seed"]))

    return make


def diagnose_factory(job: dict[str, Any], reference: str, trust_remote_code: bool = False) -> Any:
    """For a target phase after alignment: (model, tokenizer) -> the diagnostics of its trained encoder (the
    forgetting), measured as the alignment phase measured them."""

    def measure(model: Any, tokenizer: Any) -> dict[str, Any]:
        ref_encoder = Reference(reference, trust_remote_code).encoder.to(next(model.encoder.parameters()).device)
        heldout = heldout_pairs(job, ref_encoder, tokenizer)
        return diagnostics(model.encoder, ref_encoder, tokenizer, heldout, job["settings"])

    return measure
