"""`xstilts rehearse SPEC --out DIR`: the spec's whole grid at toy scale, offline, through the real code path.

What is replaced, and nothing else:
- data: every hub dataset the spec reaches gets a local mirror of a few rows per (config, split) in the dataset's own
  schema, served through `$XSTILTS_HUB_MIRROR`; every `data_dirs` entry gets generated files in the format its reader
  expects (the official XTREME layout for BUCC, UD-POS, PAN-X, PAWS-X and XNLI, jiant's CCG files, else the uniform
  JSONL layout); a `translate_train` entry gets the XTREME translations layout of every source language the spec
  trains a target in (data/xtreme.py TRANSLATIONS: 5-column XNLI and 3-column PAWS-X TSVs, SQuAD-format JSON with one
  question whose answer is off its span, which the reader skips), or uniform JSONL for a task they do not cover;
- models: each model by a tiny random model of its tokenizer path (`tiny.model_kind`: BERT WordPiece or XLM-R Unigram);
- budget: each hyperparameter block gets a toy budget (2 optimizer steps, 16 training examples, 8 evaluation examples).
Languages, splits, settings, targets, seeds, the planner, executor, scorer and report are the spec's and the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.experiments.spec import ENGLISH, TRANSLATE_TRAIN, ExperimentSpec, load_spec
from xstilts.tasks import get_task, list_tasks
from xstilts.tasks.spec import TaskSpec

TEMPLATES = Path(__file__).with_name("templates.json")
ROWS_PER_SPLIT = 12
TOY_BUDGET: dict[str, Any] = {
    "max_steps": 2,
    "batch_size": 4,
    "grad_accumulation": 1,
    "max_seq_length": 64,
    "max_train_examples": 16,
    "max_dev_examples": 8,
    "max_eval_examples": 8,
    "eval_every_steps": 1000,
    "early_stopping_patience": 1,
}
TINY_LAYERS = 2


def _templates() -> dict[str, Any]:
    return json.loads(TEMPLATES.read_text(encoding="utf-8"))


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _rows_for(task: TaskSpec, hub_split: str, lang: str, templates: dict[str, Any]) -> list[dict[str, Any]]:
    """ROWS_PER_SPLIT rows of one (config, split) in the dataset's schema: template rows repeated, ids kept unique,
    the language written where the schema carries it (XNLI's `language`, TyDi QA's id prefix)."""
    from xstilts.languages import TYDIQA_LANG2NAME

    assert task.source is not None
    key = f"{task.source.id}|{task.source.config or ''}"
    if key not in templates["hub"]:
        raise UserError(
            f"rehearsal has no template rows for {task.source.id} {task.source.config or ''} "
            f"(task '{task.name}'); add a fixture and rerun scripts/build_rehearsal_templates.py"
        )
    splits = templates["hub"][key]
    base = splits.get(hub_split) or splits.get("train") or next(iter(splits.values()))
    if any("language" in r for r in base):
        english = [r for r in base if r.get("language") == "en"] or base
        base = [{**r, "language": lang} for r in english]
    out = []
    for k in range(ROWS_PER_SPLIT):
        row = json.loads(json.dumps(base[k % len(base)]))
        if isinstance(row.get("id"), str):
            row["id"] = f"{row['id']}-r{k}"
            if task.source.row_language == "tydiqa_id":
                row["id"] = f"{TYDIQA_LANG2NAME.get(lang, lang)}-{row['id'].split('-', 1)[1]}"
        out.append(row)
    return out


def _reached(spec: ExperimentSpec) -> dict[str, set[tuple[str, str]]]:
    """(split, language) pairs of every task the spec reads, by task name."""
    from xstilts.data.xtreme import available_splits

    need: dict[str, set[tuple[str, str]]] = {}

    def add(task: TaskSpec, lang: str, splits: list[str]) -> None:
        for split in splits:
            if split in available_splits(task, lang):
                need.setdefault(task.name, set()).add((split, lang))

    for setting in spec.intermediate:
        for name in setting.tasks:
            task = get_task(name)
            src = get_task(task.train_from) if task.train_from else task
            add(src, setting.languages.get(name, src.train_language), ["train", "dev"])
    for target in spec.targets:
        task = get_task(target)
        if task.has_training_data:
            src = get_task(task.train_from) if task.train_from else task
            add(src, src.train_language, ["train", "dev"])
            add(task, "en", ["dev"])  # the target's own English dev (official-layout early stopping)
        for lang in spec.target_languages(target):
            add(task, lang, [*spec.splits, "dev"] if task.is_mining else list(spec.splits))
        for lang in _sources(spec).get(target, []):  # early stopping on the target's own dev in a source language
            if lang in task.languages:
                add(task, lang, ["dev"])
    # Tasks built from others (ANLI+ from ANLI, MNLI, SNLI) read those: give every hub task its English splits.
    for task in list_tasks():
        if task.source is not None and task.role == "intermediate":
            add(task, task.train_language, ["train", "dev", "test"])
    return need


def write_hub_mirror(root: Path, need: dict[str, set[tuple[str, str]]], templates: dict[str, Any]) -> int:
    """Files of the mirror for every hub-sourced (task, split, language) reached; returns how many were written."""
    from xstilts.data.hub import format_pattern, mirror_file

    files: dict[Path, list[dict[str, Any]]] = {}
    seen: dict[Path, set[str]] = {}  # the rows of a shared config's file, as JSON: de-duplication in linear time
    for name, pairs in sorted(need.items()):
        task = get_task(name)
        if task.source is None:
            continue
        for split, lang in sorted(pairs):
            hub_splits = task.source.splits.get(split, split)
            for hub_split in hub_splits if isinstance(hub_splits, list) else [hub_splits]:
                config = format_pattern(task.source.config, lang) if task.source.config else None
                path = mirror_file(root, task.source.id, config, format_pattern(hub_split, lang))
                rows = _rows_for(task, hub_split, lang, templates)
                if "{" not in (task.source.config or "{") and path in files:  # one config for every language
                    for r in rows:
                        key = json.dumps(r, sort_keys=True, ensure_ascii=False)
                        if key not in seen[path]:
                            seen[path].add(key)
                            files[path].append(r)
                elif path not in files:
                    files[path] = list(rows)
                    seen[path] = {json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows}
    for path, rows in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(files)


def write_data_dir(task: TaskSpec, directory: Path, pairs: set[tuple[str, str]], templates: dict[str, Any]) -> None:
    """Generated files for a task read from the user's files, in the format its reader expects."""
    directory.mkdir(parents=True, exist_ok=True)
    if task.name == "bucc2018":  # the official download layout: <lang>-en.<split>.{<lang>,en,gold}
        # (the real test split ships without gold; the rehearsal gives it gold so that every split is scored)
        for split, lang in sorted(pairs):
            for suffix, text in templates["official"]["bucc2018"].items():
                name = f"{lang}-en.{split}.{suffix.format(lang=lang)}"
                (directory / name).write_text(text.replace("de-", f"{lang}-"), encoding="utf-8")
        return
    if task.name in OFFICIAL_TSV:  # the official layout <task>/<split>-<lang>.tsv, the English training task's too
        _write_official_tsv(task, directory, pairs, templates)
        return
    if task.local_format is not None and task.name in templates["local"]:  # e.g. jiant's CCG files
        for split in ("train", "dev", "test"):
            (directory / f"{task.name}.{split}").write_text(templates["local"][task.name], encoding="utf-8")
        return
    from xstilts.data.hub import map_rows  # otherwise the uniform JSONL layout, mapped from the hub templates

    if task.source is None:
        raise UserError(f"rehearsal cannot generate data for task '{task.name}' (no hub schema and no template)")
    for split, lang in sorted(pairs):
        hub_split = task.source.splits.get(split, split)
        rows = _rows_for(task, hub_split if isinstance(hub_split, str) else split, lang, templates)
        examples = map_rows(task, rows)  # as the mapper alone did before: rows of the task's train language
        (directory / f"{split}.{lang}.jsonl").write_text(
            "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples), encoding="utf-8"
        )


def _sources(spec: ExperimentSpec) -> dict[str, list[str]]:
    """target -> the non-English languages the spec trains it in (source_languages, settings' source_language)."""
    out: dict[str, list[str]] = {}
    for s in spec.intermediate:
        for target in spec.targets:
            for lang in spec.source_languages_for(s, target):
                if lang != ENGLISH and lang not in out.setdefault(target, []):
                    out[target].append(lang)
    return out


def write_translations(
    directory: Path, wanted: list[tuple[str, str]], templates: dict[str, Any], layout: bool = True
) -> None:
    """Translated training data of (training task, language) pairs, from the English hub templates (the text kept as
    it is: a toy translation): the XTREME translations layout (`layout`) or uniform JSONL `train.<lang>.jsonl`."""
    from xstilts.data.hub import map_rows
    from xstilts.data.xtreme import TRANSLATIONS

    directory.mkdir(parents=True, exist_ok=True)
    for name, lang in wanted:
        task = get_task(name)
        if not layout and task.local_dir is not None:  # bundled data (the demo tasks): its English train file
            from xstilts.data.local import local_path

            text = local_path(task.local_dir, "train", task.train_language).read_text(encoding="utf-8")
            (directory / f"train.{lang}.jsonl").write_text(text, encoding="utf-8")
            continue
        if task.source is None:
            raise UserError(f"rehearsal cannot generate translated data for task '{name}' (no hub schema)")
        for split in ("train", "dev"):
            if layout and split not in TRANSLATIONS[name].files:
                continue
            if not layout and split != "train":
                continue
            hub_split = task.source.splits.get(split, split)
            rows = _rows_for(task, hub_split if isinstance(hub_split, str) else split, ENGLISH, templates)
            examples = [e for e in map_rows(task, rows, ENGLISH) if e is not None]
            if not layout:
                (directory / f"train.{lang}.jsonl").write_text(
                    "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples), encoding="utf-8"
                )
                continue
            path = TRANSLATIONS[name].candidates(directory, split, lang)[0]  # the bucket's own folder names
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_translated_text(name, examples), encoding="utf-8")


def _translated_text(name: str, examples: list[Any]) -> str:
    """XNLI's MNLI as the 5-column TSV (original pair, translated pair, label; "contradictory" as the bucket spells
    it), PAWS-X as the 3-column TSV the processors read, QA as SQuAD-format JSON with one more question whose
    answer_start is off its answer (the reader skips and counts it)."""
    if name == "mnli":
        label = {"contradiction": "contradictory"}
        return "".join(
            f"{e.text_a}\t{e.text_b}\t{e.text_a}\t{e.text_b}\t{label.get(e.label, e.label)}\n" for e in examples
        )
    if name == "pawsx_en":
        return "".join(f"{e.text_a}\t{e.text_b}\t{e.label}\n" for e in examples)
    paragraphs = [
        {
            "context": e.context,
            "qas": [
                {
                    "id": f"{e.guid}-tt",
                    "question": e.question,
                    "answers": [{"text": a.text, "answer_start": a.answer_start} for a in e.answers],
                }
            ],
        }
        for e in examples
        if e.answers
    ]
    first = paragraphs[0]["qas"][0]
    answer = first["answers"][0]
    paragraphs[0]["qas"].append(
        {**first, "id": f"{first['id']}-off", "answers": [{**answer, "answer_start": answer["answer_start"] + 1}]}
    )
    return json.dumps({"version": "translate-train", "data": [{"title": "toy", "paragraphs": paragraphs}]})


# Targets whose official-layout files are <folder>/<split>-<lang>.tsv (utils_preprocess.py's output): UD-POS and PAN-X
# as token<TAB>tag lines, PAWS-X and XNLI as sentence1<TAB>sentence2<TAB>label.
OFFICIAL_TSV = ("udpos", "panx", "pawsx", "xnli")


def _official_lines(example: Any) -> str:
    if hasattr(example, "tokens"):
        return "".join(f"{tok}\t{tag}\n" for tok, tag in zip(example.tokens, example.tags or [], strict=False)) + "\n"
    return f"{example.text_a}\t{example.text_b}\t{example.label}\n"


def _write_official_tsv(
    task: TaskSpec, directory: Path, pairs: set[tuple[str, str]], templates: dict[str, Any]
) -> None:
    """The target's (split, language) files and its English training task's train/dev, from the hub templates."""
    from xstilts.data.hub import map_rows

    folder = directory / task.name
    folder.mkdir(parents=True, exist_ok=True)
    src = get_task(task.train_from) if task.train_from else task
    # XNLI trains on MNLI (xnli/train-en.tsv) and early-stops on its own English dev; the others' English task has both
    english = [s for s in ("train", "dev") if s in src.splits and (src.name, s) != ("mnli", "dev")]
    wanted = sorted({(task.name, split, lang) for split, lang in pairs} | {(src.name, s, "en") for s in english})
    for name, split, lang in wanted:
        t = get_task(name)
        assert t.source is not None
        hub_split = t.source.splits.get(split, split)
        rows = _rows_for(t, hub_split if isinstance(hub_split, str) else split, lang, templates)
        examples = [e for e in map_rows(t, rows, lang) if e is not None]
        (folder / f"{split}-{lang}.tsv").write_text("".join(_official_lines(e) for e in examples), encoding="utf-8")


def toy_spec(
    spec: ExperimentSpec, root: Path, need: dict[str, set[tuple[str, str]]], templates: dict[str, Any]
) -> ExperimentSpec:
    """The spec with its data directories, MLM corpora and models replaced and a toy budget on every block."""
    from xstilts.rehearsal.tiny import make_model_dir, model_kind

    corpus = sorted({s for s in _strings(templates) if 0 < len(s) < 400})
    kinds = {m.name: model_kind(m.path) for m in spec.models}
    folders = {k: root / "models" / f"tiny-{k}" for k in set(kinds.values())}
    for kind, folder in folders.items():
        if not (folder / "config.json").is_file():
            make_model_dir(kind, folder.parent, corpus, name=folder.name, vocab_size=400)
    models = [
        m.model_copy(
            update={
                "path": str(folders[kinds[m.name]]),
                "prune_vocabulary": False,
                "layers": None,
                "retrieval_layer": None if m.retrieval_layer is None else min(m.retrieval_layer, TINY_LAYERS),
            }
        )
        for m in spec.models
    ]

    def data_dir(name: str) -> str:
        d = root / "data" / name
        task = get_task(name)
        wanted = set(need.get(name, set()))
        for other in list_tasks():  # a target's directory also serves the task it trains from (official layout)
            if other.train_from == name or name == other.name:
                wanted |= need.get(other.name, set())
        write_data_dir(task, d, wanted or {("train", task.train_language)}, templates)
        return str(d)

    def translations_dir(key: str) -> str:
        """A `translate_train` entry: the translated training data of the targets it serves, in their languages."""
        from xstilts.data.xtreme import TRANSLATIONS
        from xstilts.jobs import training_source

        d = root / "data" / key
        wanted: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
        for target, langs in _sources(spec).items():
            own = f"{TRANSLATE_TRAIN}.{target}"
            if key != (own if own in spec.data_dirs else TRANSLATE_TRAIN):  # spec.translation_dir's precedence
                continue
            source = spec.train_sources().get(target) or training_source(get_task(target)).name
            wanted[source in TRANSLATIONS] += [(source, lang) for lang in langs]
        for layout, pairs in wanted.items():
            write_translations(d, pairs, templates, layout)
        return str(d)

    def spec_dir(key: str) -> str:
        return translations_dir(key) if key.split(".")[0] == TRANSLATE_TRAIN else data_dir(key)

    corpus_file = root / "data" / "mlm-corpus.txt"
    corpus_file.parent.mkdir(parents=True, exist_ok=True)
    corpus_file.write_text("\n".join(corpus[:200]) + "\n", encoding="utf-8")
    settings = []
    for s in spec.intermediate:
        settings.append(
            s.model_copy(
                update={
                    "data_dirs": {t: data_dir(t) for t in s.data_dirs},
                    "mlm_corpus": str(corpus_file) if s.mlm_corpus else None,
                    "hyperparameters": {**s.hyperparameters, **TOY_BUDGET},
                }
            )
        )
    mixtures = spec.mixtures
    if mixtures is not None:  # the generated settings' own layer gets the toy budget too
        mixtures = mixtures.model_copy(update={"hyperparameters": {**mixtures.hyperparameters, **TOY_BUDGET}})
    blocks = {k: {**v, **TOY_BUDGET} for k, v in spec.hyperparameters.items()}
    for phase in ("intermediate", "target"):
        blocks.setdefault(phase, dict(TOY_BUDGET))
    return spec.model_copy(
        update={
            "models": models,
            "intermediate": settings,
            "hyperparameters": blocks,
            "data_dirs": {t: spec_dir(t) for t in spec.data_dirs},
            "mixtures": mixtures,
        }
    )


def rehearse_spec(
    spec_path: str | Path, out: str | Path, only: dict[str, list[str]] | None = None, progress: bool = True
) -> dict[str, Any]:
    """Rehearse a spec into `out` (results.csv, report, nodes as a real run writes them); returns the run summary
    with `failed` naming each node that would fail."""
    import datasets
    import transformers

    from xstilts.analysis.report import build_report
    from xstilts.experiments.run import run_local

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    spec = load_spec(spec_path, expand=False)  # a mixtures block is expanded below, on the toy data and models
    out = Path(out).resolve()
    root = out / "rehearsal"
    templates = _templates()
    need = _reached(spec)
    write_hub_mirror(root / "hub", {n: p for n, p in need.items() if n not in spec.data_dirs}, templates)
    toy = toy_spec(spec, root, need, templates)
    (root / "spec.json").write_text(json.dumps(toy.model_dump(), indent=1, default=str), encoding="utf-8")
    from xstilts.paths import scoped_environ

    offline = {
        "XSTILTS_HUB_MIRROR": str(root / "hub"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(root / "hf-cache"),
    }
    with scoped_environ(offline):
        if toy.mixtures is not None:  # generated on the toy data and models
            from xstilts.experiments.mixtures import expand_mixtures
            from xstilts.experiments.plan import check_only

            toy = expand_mixtures(toy)
            check_only(toy, only or {})
        summary = run_local(toy, out, progress=progress, only=only)
    if (out / "results.csv").is_file():
        try:
            build_report([out], out)
            summary["report"] = str(out / "report.html")
        except UserError as e:
            summary["report_error"] = str(e)
    return summary
