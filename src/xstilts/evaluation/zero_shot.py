"""Zero-shot evaluation of a trained checkpoint on a target task in every chosen language.

Writes predictions (and the matching gold labels) in the official submission layout, `<task>/<split>-<lang>.tsv|json`,
so a run can be scored by `xstilts score` or the official scorer, plus per-language metrics in metrics.json.
A split without gold (the official download's test files) gets predictions only: no label file and no metric rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from xstilts.atomic import atomic_write_json
from xstilts.data.load import load_examples, subsample
from xstilts.data.xtreme import tatoeba_official_order
from xstilts.defaults import default_retrieval_layer, phase_defaults
from xstilts.errors import UserError
from xstilts.evaluation.task_eval import gold_of, predict_examples, score
from xstilts.families import submission as sub
from xstilts.families.examples import BitextExample
from xstilts.families.featurize import Collator, featurize_retrieval
from xstilts.modeling.model import MultiTaskModel, is_checkpoint, load_checkpoint, load_encoder
from xstilts.tasks.spec import TaskSpec


def load_for_eval(path: str, trust_remote_code: bool = False) -> tuple[MultiTaskModel, Any]:
    """A phase checkpoint (encoder + heads) or a plain model folder / hub id (encoder only: retrieval on the base model)."""
    if is_checkpoint(path):
        return load_checkpoint(Path(path), trust_remote_code=trust_remote_code)
    enc, tok = load_encoder(path, trust_remote_code=trust_remote_code)
    return MultiTaskModel(enc), tok


def _has_gold(golds: Sequence[Any]) -> bool:
    """Whether a split carries gold: the official test files have no label (None), tags (None) or answers ([])."""
    return any(g not in (None, []) for g in golds)


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


RETRIEVAL_DIRECTIONS = ("en_to_xx", "xx_to_en")


def _tatoeba_en_to_xx(
    S: Any, T: Any, src_ids: list[str], tgt_ids: list[str], gold: set, line: list[int]
) -> tuple[list[int], list[int] | None]:
    """Official direction: the English sentences, in the order of the sorted `<lang>-en.en` file, query a flat index
    of the non-English ones; each prediction names a line (index) of the non-English file. Gold for sorted line k is
    the line of the sentence English line k translates; None when the split has no gold."""
    from xstilts.evaluation.retrieval import nearest_neighbour

    order = [0] * len(line)  # sorted English line -> row of tgt
    for row, k in enumerate(line):
        order[k] = row
    preds = [int(x) for x in nearest_neighbour(T[order], S)]
    if not gold:
        return preds, None
    src_line = {s: n for n, s in enumerate(src_ids)}
    gold_of_tgt: dict[str, int] = {}
    for s, t in sorted(gold, key=lambda p: src_line[p[0]]):  # one source per English sentence: its first line
        gold_of_tgt.setdefault(t, src_line[s])
    missing = [tgt_ids[r] for r in order if tgt_ids[r] not in gold_of_tgt]
    if missing:  # a label file needs one line per English line
        raise UserError(
            f"Tatoeba-style gold must pair every English sentence with a source; '{missing[0]}' has "
            f"none ({len(missing)} of {len(order)})"
        )
    return preds, [gold_of_tgt[tgt_ids[r]] for r in order]


def _tatoeba_xx_to_en(
    S: Any, T: Any, src_ids: list[str], tgt_ids: list[str], gold: set, line: list[int]
) -> tuple[list[int], list[int] | None]:
    """Analysis direction: each non-English sentence with gold (every one without gold) queries the English ones;
    each prediction names a line of the sorted English file."""
    from xstilts.evaluation.retrieval import nearest_neighbour

    gold_src = dict(gold)
    keep = [i for i, s in enumerate(src_ids) if s in gold_src or not gold_src]
    preds = [line[int(x)] for x in nearest_neighbour(S[keep], T)]
    if not gold_src:
        return preds, None
    t_index = {t: n for n, t in enumerate(tgt_ids)}
    return preds, [line[t_index[gold_src[src_ids[i]]]] for i in keep]


def evaluate_retrieval(
    model: MultiTaskModel,
    tokenizer: Any,
    task: TaskSpec,
    languages: Sequence[str],
    splits: Sequence[str],
    out_dir: Path,
    settings: dict[str, Any],
    layer: int | None,
    data_dir: str | None = None,
    progress: bool = True,
    direction: str = "en_to_xx",
    pooling: str = "mean_all",
) -> list[dict[str, Any]]:
    """BUCC-style mining or Tatoeba-style retrieval on pooled hidden_states[layer], as the official XTREME scripts.

    direction (Tatoeba-style only): en_to_xx (official: English queries, predictions per sorted English line naming
    a non-English line) or xx_to_en (non-English queries naming sorted English lines). Mining uses both directions.
    pooling: mean_all (official: mean over every non-pad token, special tokens included), mean_content (special
    tokens left out) or cls (the first token). Both are recorded in every row.
    """
    import numpy as np

    from xstilts.evaluation.predict import POOLING_MODES, sentence_vectors
    from xstilts.evaluation.retrieval import bucc_candidates, distinct
    from xstilts.families import metrics as M

    if direction not in RETRIEVAL_DIRECTIONS:
        raise UserError(f"unknown retrieval direction '{direction}'; expected one of {', '.join(RETRIEVAL_DIRECTIONS)}")
    if pooling not in POOLING_MODES:
        raise UserError(f"unknown pooling '{pooling}'; expected one of {', '.join(POOLING_MODES)}")
    device = next(model.parameters()).device
    layer = default_retrieval_layer(model.encoder.config.num_hidden_layers) if layer is None else layer
    collate = Collator(pad_id=tokenizer.pad_token_id or 0)
    max_len = int(settings["max_seq_length"])
    recorded = {"layer": layer, "retrieval_direction": "both" if task.is_mining else direction, "pooling": pooling}

    def vectors(texts: list[str]) -> np.ndarray:
        """One vector per text; each distinct text is encoded once."""
        uniq, inverse = distinct(texts)
        if not uniq:
            return np.zeros((0, model.hidden_size), dtype=np.float32)
        feats = featurize_retrieval(uniq, tokenizer, max_len)
        return sentence_vectors(model, feats, collate, device, layer, pooling)[inverse]

    rows_out: list[dict[str, Any]] = []
    for lang in tqdm(languages, desc=f"eval {task.name}", disable=not progress, leave=False):
        thresholds: dict[str, float] = {}
        for split in ["dev", *[s for s in splits if s != "dev"]] if task.is_mining else list(splits):
            rows = load_examples(task, split, lang, data_dir)
            if task.is_mining or all(r.source is not None and r.target is not None for r in rows):
                # Aligned pairs (and BUCC-style corpora) can be subsampled by row; one-sided official Tatoeba files
                # cannot: their predictions index the whole English file.
                rows = subsample(rows, settings.get("max_eval_examples"), 0)
            src_ids, src, tgt_ids, tgt, gold = _retrieval_sides(rows)
            pred_path = out_dir / "predictions" / task.name / f"{split}-{lang}.tsv"
            label_path = out_dir / "labels" / task.name / f"{split}-{lang}.tsv"
            values: dict[str, float] = {}
            if task.is_mining:  # BUCC-style mining: threshold from dev, applied to the other splits
                cands = bucc_candidates(src_ids, src, tgt_ids, tgt, vectors, k=4)
                if split == "dev":
                    if not gold:  # without gold pairs every threshold is as good: refuse rather than mine at random
                        raise UserError(
                            f"task '{task.name}' dev split for '{lang}' has no gold pairs to tune the "
                            "mining threshold on",
                            path=None if data_dir is None else str(data_dir),
                        )
                    thresholds[lang] = M.bucc_best_threshold(cands, sorted(gold))
                pairs = M.bucc_extract(cands, thresholds[lang])
                sub.write_bucc(pred_path, pairs)
                if gold:  # the official test split has no gold file: predictions only
                    sub.write_bucc(label_path, sorted(gold))
                    values = dict(M.bucc_scores(pairs, sorted(gold)))
                    values["threshold"] = thresholds[lang]
                    values["score"] = values["f1"]
            else:  # Tatoeba-style: indices name lines of the official files (English side sorted by text)
                if not src or not tgt:
                    raise UserError(
                        f"task '{task.name}' {split} split for '{lang}' needs sentences on both sides "
                        f"(has {len(src)} non-English, {len(tgt)} English)"
                    )
                S, T = vectors(src), vectors(tgt)
                # English lines in the order of the official sorted `<lang>-en.en` (identity when the data is that
                # file), so a submission is the same from either layout.
                line = tatoeba_official_order(tgt)
                search = _tatoeba_en_to_xx if direction == "en_to_xx" else _tatoeba_xx_to_en
                preds, gold_idx = search(S, T, src_ids, tgt_ids, gold, line)
                sub.write_labels_tsv(pred_path, [str(x) for x in preds])
                if gold_idx is not None:
                    sub.write_labels_tsv(label_path, [str(x) for x in gold_idx])
                    values = {"accuracy": M.tatoeba_accuracy(preds, gold_idx)}
                    values["score"] = values["accuracy"]
            if split in splits:
                rows_out.extend(
                    {"language": lang, "split": split, "metric": m, "value": float(v), **recorded}
                    for m, v in values.items()
                )
    return rows_out


def evaluate_target(
    model_path: str,
    task: TaskSpec,
    languages: Sequence[str],
    splits: Sequence[str] | Mapping[str, Sequence[str]],
    out_dir: str | Path,
    settings: dict[str, Any] | None = None,
    data_dir: str | None = None,
    layer: int | None = None,
    progress: bool = True,
    trust_remote_code: bool = False,
    direction: str = "en_to_xx",
    pooling: str = "mean_all",
) -> list[dict[str, Any]]:
    """Evaluate zero-shot; returns one row per (language, split, metric) and writes predictions + metrics.json.

    `splits` is one list for every language, or a mapping language -> that language's splits (a plan's evaluation job
    holds the splits each language's data has). `direction` and `pooling` apply to retrieval targets (see
    evaluate_retrieval; the defaults are the official XTREME scripts')."""
    out = Path(out_dir)
    per_lang = (
        {l: list(splits[l]) for l in languages} if isinstance(splits, Mapping) else {l: list(splits) for l in languages}
    )
    settings = {**phase_defaults("target", task.name), **(settings or {})}
    model, tokenizer = load_for_eval(model_path, trust_remote_code)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    for lang in languages:
        if lang not in task.languages:
            raise UserError(f"task '{task.name}' has no language '{lang}'; its languages: {' '.join(task.languages)}")
    if task.ops.is_retrieval:
        rows = []
        for lang in languages:  # one model load; each language with the splits its data has
            rows += evaluate_retrieval(
                model,
                tokenizer,
                task,
                [lang],
                per_lang[lang],
                out,
                settings,
                layer,
                data_dir,
                progress=False,
                direction=direction,
                pooling=pooling,
            )
    else:
        if task.name not in model.heads:
            raise UserError(
                f"checkpoint has no head for task '{task.name}' (heads: {sorted(model.heads)})", path=model_path
            )
        write = task.ops.write
        if write is None:
            raise UserError(f"task '{task.name}': family '{task.family}' has no zero-shot evaluation")
        rows = []
        for lang in tqdm(languages, desc=f"eval {task.name}", disable=not progress, leave=False):
            for split in per_lang[lang]:
                examples = subsample(load_examples(task, split, lang, data_dir), settings.get("max_eval_examples"), 0)
                preds = predict_examples(model, tokenizer, task, examples, settings, device)
                golds = gold_of(task, examples)
                labelled = _has_gold(golds)
                ext = task.ops.prediction_ext
                write(
                    examples,
                    preds,
                    out / "predictions" / task.name / f"{split}-{lang}.{ext}",
                    out / "labels" / task.name / f"{split}-{lang}.{ext}" if labelled else None,
                )
                if not labelled:  # e.g. the official test files: predictions to submit, nothing to score here
                    continue
                values = score(task, preds, golds, lang)
                rows.extend(
                    {"language": lang, "split": split, "metric": m, "value": float(v)} for m, v in values.items()
                )
    atomic_write_json(out / "metrics.json", rows)
    return rows


def evaluate_job(
    model_path: str, job: dict[str, Any], out_dir: str | Path, progress: bool = True
) -> list[dict[str, Any]]:
    """Run a plan's evaluation job: its languages with the splits each has, its hyperparameters, its data source and
    retrieval protocol. Every row records the protocol options (`options`), e.g. gold-only BUCC mining."""
    from xstilts.jobs import task_from

    task = task_from({job["target"]: job["definition"]} if "definition" in job else None, job["target"])
    retrieval = job.get("retrieval") or {}
    rows = evaluate_target(
        model_path,
        task,
        job["languages"],
        job["splits"],
        out_dir,
        settings=job["hparams"],
        data_dir=job["data_dir"],
        layer=retrieval.get("layer"),
        progress=progress,
        trust_remote_code=job["trust_remote_code"],
        direction=retrieval.get("direction") or "en_to_xx",
        pooling=retrieval.get("pooling") or "mean_all",
    )
    options = ";".join(x for x in [retrieval_options(retrieval), *job.get("labels", [])] if x)
    return [{**r, "options": options} for r in rows]


def retrieval_options(retrieval: dict[str, Any]) -> str:
    """The `options` column: `key=value` per retrieval option that is set, sorted by key, `;`-joined; a flag that is on
    is its bare name (`gold_only`); the layer has its own column."""
    return ";".join(
        k if v is True else f"{k}={v}" for k, v in sorted(retrieval.items()) if k != "layer" and v not in (None, False)
    )
