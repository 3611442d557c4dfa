"""Zero-shot evaluation of a trained checkpoint on a target task in every chosen language.

Writes predictions (and the matching gold labels) in the official submission layout, `<task>/<split>-<lang>.tsv|json`,
so a run can be scored by `xstilts score` or the official scorer, plus per-language metrics in metrics.json.
A split without gold (the official download's test files) gets predictions only: no label file and no metric rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from xstilts.data.examples import BitextExample
from xstilts.data.featurize import Collator, featurize_retrieval
from xstilts.data.load import load_examples
from xstilts.data.xtreme import tatoeba_official_order
from xstilts.defaults import default_retrieval_layer, phase_defaults
from xstilts.errors import UserError
from xstilts.evaluation import submission as sub
from xstilts.evaluation.task_eval import gold_of, predict_examples, score
from xstilts.modeling.model import MultiTaskModel, is_checkpoint, load_checkpoint, load_encoder
from xstilts.tasks.spec import TaskSpec
from xstilts.training.phase import subsample


def load_for_eval(path: str, trust_remote_code: bool = False) -> tuple[MultiTaskModel, Any]:
    """A phase checkpoint (encoder + heads) or a plain model folder / hub id (encoder only: retrieval on the base model)."""
    if is_checkpoint(path):
        return load_checkpoint(Path(path), trust_remote_code=trust_remote_code)
    enc, tok = load_encoder(path, trust_remote_code=trust_remote_code)
    return MultiTaskModel(enc), tok


def _has_gold(golds: Sequence[Any]) -> bool:
    """Whether a split carries gold: the official test files have no label (None), tags (None) or answers ([])."""
    return any(g not in (None, []) for g in golds)


def _write_predictions(task: TaskSpec, examples: Sequence[Any], preds: Sequence[Any], pred_path: Path,
                       label_path: Path | None) -> None:
    """Predictions, and the gold labels in the same layout unless label_path is None (a split without gold)."""
    fam = task.family
    if fam == "span_qa":
        sub.write_qa_predictions(pred_path, {e.guid: p for e, p in zip(examples, preds)})
        if label_path is not None:
            sub.write_qa_labels(label_path, [(e.guid, e.context, e.question,
                                              [(a.text, a.answer_start) for a in e.answers]) for e in examples])
    elif fam == "tagging":
        sub.write_tagging(pred_path, preds)
        if label_path is not None:
            sub.write_tagging(label_path, gold_of(task, examples))
    else:
        sub.write_labels_tsv(pred_path, [str(p) for p in preds])
        if label_path is not None:
            sub.write_labels_tsv(label_path, [str(g) for g in gold_of(task, examples)])


def _retrieval_sides(rows: Sequence[BitextExample]) -> tuple[list[str], list[str], list[str], list[str], set]:
    src_ids, src, tgt_ids, tgt, gold = [], [], [], [], set()
    seen_s, seen_t = set(), set()
    for r in rows:
        if r.source is not None and r.source_id not in seen_s:
            seen_s.add(r.source_id)
            src_ids.append(r.source_id)
            src.append(r.source)
        if r.target is not None and r.target_id not in seen_t:
            seen_t.add(r.target_id)
            tgt_ids.append(r.target_id)
            tgt.append(r.target)
        if r.source is not None and r.target is not None:
            gold.add((r.source_id, r.target_id))
    return src_ids, src, tgt_ids, tgt, gold


def evaluate_retrieval(model: MultiTaskModel, tokenizer: Any, task: TaskSpec, languages: Sequence[str],
                       splits: Sequence[str], out_dir: Path, settings: dict[str, Any], layer: int | None,
                       data_dir: str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    from xstilts.evaluation import metrics as M
    from xstilts.evaluation.predict import sentence_vectors
    from xstilts.evaluation.retrieval import margin_candidates, mine, nearest_neighbour

    device = next(model.parameters()).device
    layer = default_retrieval_layer(model.encoder.config.num_hidden_layers) if layer is None else layer
    collate = Collator(pad_id=tokenizer.pad_token_id or 0)
    max_len = int(settings["max_seq_length"])

    def vectors(texts: list[str]):
        return sentence_vectors(model, featurize_retrieval(texts, tokenizer, max_len), collate, device, layer, task.pooling)

    rows_out: list[dict[str, Any]] = []
    for lang in tqdm(languages, desc=f"eval {task.name}", disable=not progress, leave=False):
        thresholds: dict[str, float] = {}
        for split in (["dev", *[s for s in splits if s != "dev"]] if task.is_mining else list(splits)):
            rows = load_examples(task, split, lang, data_dir)
            if task.is_mining or all(r.source is not None and r.target is not None for r in rows):
                # Aligned pairs (and BUCC-style corpora) can be subsampled by row; one-sided official Tatoeba files
                # cannot: their predictions index the whole English file.
                rows = subsample(rows, settings.get("max_eval_examples"), 0)
            src_ids, src, tgt_ids, tgt, gold = _retrieval_sides(rows)
            S, T = vectors(src), vectors(tgt)
            pred_path = out_dir / "predictions" / task.name / f"{split}-{lang}.tsv"
            label_path = out_dir / "labels" / task.name / f"{split}-{lang}.tsv"
            values: dict[str, float] = {}
            if task.is_mining:  # BUCC-style mining: threshold from dev, applied to the other splits
                cands = margin_candidates(S, T, k=4)
                named = [(src_ids[i], tgt_ids[j], s) for i, j, s in cands]
                if split == "dev":
                    if not gold:  # without gold pairs every threshold is as good: refuse rather than mine at random
                        raise UserError(f"task '{task.name}' dev split for '{lang}' has no gold pairs to tune the "
                                        "mining threshold on", path=None if data_dir is None else str(data_dir))
                    thresholds[lang] = M.bucc_best_threshold(named, sorted(gold))
                pairs = mine(src_ids, tgt_ids, cands, thresholds[lang])
                sub.write_bucc(pred_path, pairs)
                if gold:  # the official test split has no gold file: predictions only
                    sub.write_bucc(label_path, sorted(gold))
                    values = dict(M.bucc_scores(pairs, sorted(gold)))
                    values["threshold"] = thresholds[lang]
                    values["score"] = values["f1"]
            else:  # Tatoeba-style: nearest English sentence of each gold source (of every source without gold)
                gold_src = {s: t for s, t in gold}
                keep = [i for i, s in enumerate(src_ids) if s in gold_src or not gold_src]
                nn = nearest_neighbour(S[keep], T)
                # Indices name lines of the English side sorted by text, as in the official `<lang>-en.en` file
                # (identity when the data is that file), so a submission is the same from either layout.
                line = tatoeba_official_order(tgt)
                sub.write_labels_tsv(pred_path, [str(line[int(x)]) for x in nn])
                if gold_src:
                    t_index = {t: n for n, t in enumerate(tgt_ids)}
                    gold_idx = [line[t_index[gold_src[src_ids[i]]]] for i in keep]
                    sub.write_labels_tsv(label_path, [str(x) for x in gold_idx])
                    values = {"accuracy": M.tatoeba_accuracy([line[int(x)] for x in nn], gold_idx)}
                    values["score"] = values["accuracy"]
            if split in splits:
                rows_out.extend({"language": lang, "split": split, "metric": m, "value": float(v), "layer": layer}
                                for m, v in values.items())
    return rows_out


def evaluate_target(model_path: str, task: TaskSpec, languages: Sequence[str],
                    splits: Sequence[str] | Mapping[str, Sequence[str]], out_dir: str | Path,
                    settings: dict[str, Any] | None = None, data_dir: str | None = None,
                    layer: int | None = None, progress: bool = True,
                    trust_remote_code: bool = False) -> list[dict[str, Any]]:
    """Evaluate zero-shot; returns one row per (language, split, metric) and writes predictions + metrics.json.

    `splits` is one list for every language, or a mapping language -> that language's splits (a plan's evaluation job
    holds the splits each language's data has)."""
    out = Path(out_dir)
    per_lang = {l: list(splits[l]) for l in languages} if isinstance(splits, Mapping) else \
        {l: list(splits) for l in languages}
    settings = {**phase_defaults("target", task.name), **(settings or {})}
    model, tokenizer = load_for_eval(model_path, trust_remote_code)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    for lang in languages:
        if lang not in task.languages:
            raise UserError(f"task '{task.name}' has no language '{lang}'; its languages: {' '.join(task.languages)}")
    if task.family == "retrieval":
        rows = []
        for lang in languages:  # one model load; each language with the splits its data has
            rows += evaluate_retrieval(model, tokenizer, task, [lang], per_lang[lang], out, settings, layer, data_dir,
                                       progress=False)
    else:
        if task.name not in model.heads:
            raise UserError(f"checkpoint has no head for task '{task.name}' (heads: {sorted(model.heads)})",
                            path=model_path)
        rows = []
        for lang in tqdm(languages, desc=f"eval {task.name}", disable=not progress, leave=False):
            for split in per_lang[lang]:
                examples = subsample(load_examples(task, split, lang, data_dir), settings.get("max_eval_examples"), 0)
                preds = predict_examples(model, tokenizer, task, examples, settings, device)
                golds = gold_of(task, examples)
                labelled = _has_gold(golds)
                ext = "json" if task.family == "span_qa" else "tsv"
                _write_predictions(task, examples, preds, out / "predictions" / task.name / f"{split}-{lang}.{ext}",
                                   out / "labels" / task.name / f"{split}-{lang}.{ext}" if labelled else None)
                if not labelled:  # e.g. the official test files: predictions to submit, nothing to score here
                    continue
                values = score(task, preds, golds, lang)
                rows.extend({"language": lang, "split": split, "metric": m, "value": float(v)} for m, v in values.items())
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".metrics.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    os.replace(tmp, out / "metrics.json")
    return rows


def evaluate_job(model_path: str, job: dict[str, Any], out_dir: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run a plan's evaluation job: its languages with the splits each has, its hyperparameters, its data source and
    retrieval protocol. Every row records the protocol options (`options`), e.g. gold-only BUCC mining."""
    from xstilts.tasks import get_task

    task = get_task(job["target"])
    retrieval = job.get("retrieval") or {}
    rows = evaluate_target(model_path, task, job["languages"], job["splits"], out_dir, settings=job["hparams"],
                           data_dir=job["data_dir"], layer=retrieval.get("layer"), progress=progress,
                           trust_remote_code=job["trust_remote_code"])
    options = ";".join(f"{k}={v}" for k, v in sorted(retrieval.items()) if k != "layer" and v not in (None, False))
    if retrieval.get("gold_only"):
        options = options.replace("gold_only=True", "gold_only")
    return [{**r, "options": options} for r in rows]
