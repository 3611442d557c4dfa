"""The plan: a DAG of nodes (intermediate training, target training, evaluation). Each node holds its fully resolved job
(model, tasks, every hyperparameter, data sources, languages, splits, retrieval options) and a content hash of that job
and its upstream hashes. An intermediate model is trained once per (model, setting, seed) and shared by every target."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts import NUMERICS, __version__
from xstilts.data.fingerprint import save_cache, source_fingerprint
from xstilts.defaults import EVALUATION_KEYS, merge_hyperparameters
from xstilts.errors import UserError
from xstilts.experiments.mixtures import generated_summary
from xstilts.experiments.spec import ENGLISH, TRANSLATE_TRAIN, ExperimentSpec, IntermediateSetting, ModelSpec
from xstilts.jobs import PHASE_RECORD, PhaseConfig, task_definition, task_from
from xstilts.results import EVAL_RECORD
from xstilts.selection.prune import plan_filter
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec

# Rough CPU/GPU-agnostic cost model: seconds per 1,000 training examples per epoch for a base-size model on one GPU.
_SECONDS_PER_K_EXAMPLES = 20.0


@dataclass
class Node:
    """One unit of work. `job` is its fully resolved, JSON-able job (what the executor runs, nothing else); `hash` is
    the content hash of the job and of its upstream nodes' hashes."""

    id: str
    kind: str  # "intermediate", "align", "target", "evaluation"
    model: str
    intermediate: str
    seed: int
    target: str | None = None
    depends_on: list[str] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    hash: str = ""
    start_dir: str | None = None  # dirname of the upstream node whose output this node starts from (None: the model)
    source_language: str = ENGLISH  # the language the target phase trained in (spec source_languages); "@<lang>" in ids

    @property
    def key(self) -> str:
        """The node's identity in results.csv: its id and content hash (a changed spec gives new rows)."""
        return f"{self.id}@{self.hash[:12]}"

    def dirname(self) -> str:
        readable = "-".join(
            x for x in [self.kind, self.model, self.intermediate, self.target_label, f"s{self.seed}"] if x
        )
        return f"{readable}-{self.hash[:12]}"

    @property
    def target_label(self) -> str:
        """The target as ids and folder names spell it: `xnli`, or `xnli@de` when its target phase trained in German."""
        return source_label(self.target or "", self.source_language)

    def public(self, done: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "intermediate": self.intermediate,
            "target": self.target,
            "seed": self.seed,
            "source_language": self.source_language,
            "depends_on": self.depends_on,
            "hash": self.hash,
            "done": done,
            "job": self.job,
        }


def source_label(target: str, source_language: str) -> str:
    """`target`, or `target@<lang>` for a target phase trained in another language than English."""
    return target if not target or source_language == ENGLISH else f"{target}@{source_language}"


def content_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def model_job(m: ModelSpec, spec: ExperimentSpec) -> dict[str, Any]:
    """The model a node starts from. A pruned or truncated copy is derived once per run under `models/` (`folder`,
    relative to the run directory; built by the driver before any node runs); otherwise `folder` is the path itself."""
    ident = {
        "path": m.path,
        "prune_vocabulary": m.prune_vocabulary,
        "layers": m.layers,
        "trust_remote_code": m.trust_remote_code,
    }  # not `intermediate`: it decides which nodes exist
    folder = m.path
    if m.prune_vocabulary or m.layers:
        # Pruning keeps the word pieces of every text the spec reaches: the key covers what decides that set.
        texts = {
            "settings": sorted([s.tasks, s.data_dirs, s.languages] for s in spec.intermediate),
            **spec.model_dump(include={"targets", "languages", "splits", "data_dirs"}),
            "data": [
                [task_definition(t), split, lang, source_fingerprint(t, split, lang, d)]
                for t, split, lang, d in spec_sources(spec)
            ]
            if m.prune_vocabulary
            else None,
        }
        if alignment_corpora(spec) and m.prune_vocabulary:  # the corpora's words too (absent: keys as before)
            from xstilts.alignment.job import fingerprint

            texts["alignment"] = [[c, langs, fingerprint(c, langs)] for c, langs in alignment_corpora(spec)]
        # truncation alone reads no text; NUMERICS: how a copy is derived changed with it (round 6: the pooler kept)
        key = content_hash(
            [m.model_dump(exclude={"intermediate", "retrieval_layer"}), texts if m.prune_vocabulary else None, NUMERICS]
        )
        folder = f"models/{m.name}-{key[:12]}"
    return {**ident, "name": m.name, "folder": folder, "derived": folder != m.path}


def alignment_corpora(spec: ExperimentSpec) -> list[tuple[str, list[str]]]:
    """(corpus, languages) of every alignment block of the spec, held-out pairs included, each once."""
    from xstilts.alignment.job import default_heldout

    out: dict[tuple[str, tuple[str, ...]], None] = {}
    for s in spec.intermediate:
        if s.align is not None:
            for corpus in (s.align.corpus, s.align.heldout or default_heldout(s.align.corpus)):
                if corpus:
                    out[(corpus, tuple(s.align.languages))] = None
    return [(c, list(langs)) for c, langs in out]


def spec_sources(spec: ExperimentSpec) -> list[tuple[TaskSpec, str, str, str | None]]:
    """Every (task, split, language, data directory) a spec's nodes read: each task's English train and dev (from its
    training source), each target's evaluation splits (and dev for mining). Vocabulary pruning keeps their word
    pieces, so a pruned model's key covers their fingerprints."""
    out: list[tuple[TaskSpec, str, str, str | None]] = []
    names = {t for s in spec.intermediate for t in s.tasks} | set(spec.targets)
    for name in sorted(names):
        task = get_task(name)
        src = get_task(task.train_from) if task.train_from else task
        reads = [(src, "train", src.train_language), (src, "dev", src.train_language)] if task.ops.trainable else []
        if task.role == "target":
            reads += [(task, split, lang) for split in spec.splits for lang in spec.target_languages(name)]
            if task.ops.is_retrieval:
                reads += [(task, "dev", lang) for lang in spec.target_languages(name)]
        out += [(t, split, lang, spec.data_dirs.get(t.name)) for t, split, lang in reads if split in t.splits]
    out += _translated_sources(spec)
    return out


def _translated_sources(spec: ExperimentSpec) -> list[tuple[TaskSpec, str, str, str | None]]:
    """The translated training data (and the dev set early stopping then reads) of every non-English source language
    of the spec: what a target phase of `phase_config(..., source_language)` reads."""
    out: list[tuple[TaskSpec, str, str, str | None]] = []
    seen = set()
    for s in spec.intermediate:
        for target in spec.targets:
            for lang in spec.source_languages_for(s, target):
                if lang == ENGLISH or (target, lang) in seen or not get_task(target).has_training_data:
                    continue
                seen.add((target, lang))
                # what the phase reads does not depend on the model (trust_remote_code only): any of the spec's
                where = phase_config(spec, "target", [target], 0, None, spec.models[0], lang).task_source(target)
                out.append((get_task(where["source_task"]), "train", lang, where["data_dir"]))
                if where["dev_task"] is not None:
                    dev_task = get_task(where["dev_task"])
                    out.append((dev_task, "dev", where["dev_language"], where["dev_data_dir"]))
    return out


def phase_config(
    spec: ExperimentSpec,
    kind: str,
    tasks: list[str],
    seed: int,
    setting: IntermediateSetting | None,
    m: ModelSpec,
    source_language: str = ENGLISH,
) -> PhaseConfig:
    """The phase a (setting, target) stands for, with the spec's override layers in their documented order. A target
    phase in another `source_language` than English reads its translated training data (spec.translation_dir); an
    English one is exactly the phase of a spec without source languages."""
    translated = kind == "target" and source_language != ENGLISH
    data_dirs = dict(spec.data_dirs)
    if setting is not None:
        data_dirs.update(setting.data_dirs)
    return PhaseConfig(
        kind=kind,
        tasks=list(tasks),
        start="",
        seed=seed,
        base_settings=spec.hyperparameter_layers(kind, None)[0],
        task_settings={t: spec.hyperparameter_layers(kind, t)[1] for t in tasks},
        settings=dict(setting.hyperparameters) if (setting is not None and kind == "intermediate") else {},
        sampler=setting.sampler if setting is not None and kind == "intermediate" else "proportional",
        temperature=setting.temperature if setting is not None and kind == "intermediate" else 2.0,
        keep_heads=spec.keep_heads if kind == "target" else False,
        data_dirs=data_dirs if kind == "intermediate" else dict(spec.data_dirs),
        languages=dict(setting.languages)
        if (setting is not None and kind == "intermediate")
        else (dict.fromkeys(tasks, source_language) if translated else {}),
        mlm_corpus=setting.mlm_corpus if (setting is not None and kind == "intermediate") else None,
        trust_remote_code=m.trust_remote_code,
        checkpoint_dtype=spec.checkpoints.dtype,
        train_from={t: spec.train_sources()[t] for t in tasks if t in spec.train_sources()} if kind == "target" else {},
        translations={t: spec.translation_dir(t) or "" for t in tasks} if translated else {},
    )


def evaluation_splits(
    task: TaskSpec, lang: str, data_dir: str | None, wanted: list[str]
) -> tuple[list[str], list[str]]:
    """(splits to evaluate, requested splits the data does not have) for one language of a target.

    Availability follows the data: the task's splits, minus what a language lacks (UD-POS kk has no dev; tl, th, yo
    have test only), and for bundled local data the files present. A mining target always needs dev (its threshold)."""
    from xstilts.data.local import local_path
    from xstilts.data.xtreme import available_splits

    have = available_splits(task, lang)
    if data_dir is None and task.local_dir is not None:
        have = [s for s in have if local_path(task.local_dir, s, lang).is_file()]
    return [s for s in wanted if s in have], [s for s in wanted if s not in have]


def evaluation_job(spec: ExperimentSpec, m: ModelSpec, target: str) -> dict[str, Any]:
    """What one evaluation node computes: per language the splits it has, every setting evaluation reads, the
    retrieval protocol; skipped (language, split) pairs are recorded with the reason."""
    task = get_task(target)
    data_dir = spec.data_dirs.get(target)
    splits: dict[str, list[str]] = {}
    skipped: list[dict[str, str]] = []
    for lang in spec.target_languages(target):
        ok, missing = evaluation_splits(task, lang, data_dir, list(spec.splits))
        skipped += [{"language": lang, "split": s, "reason": f"the data has no {s} split for {lang}"} for s in missing]
        if ok:
            splits[lang] = ok
    merged = merge_hyperparameters("target", target, *spec.hyperparameter_layers("target", target))
    hparams = {k: merged[k] for k in EVALUATION_KEYS}
    read = [(s, lang) for lang, ss in splits.items() for s in ss]
    if task.is_mining:  # the threshold is tuned on dev
        read += [("dev", lang) for lang in splits if "dev" not in splits[lang]]
    job: dict[str, Any] = {
        "target": target,
        "languages": list(splits),
        "splits": splits,
        "skipped": skipped,
        "data_dir": data_dir,
        "hparams": hparams,
        "trust_remote_code": m.trust_remote_code,
        "group": task.group or "",
        "definition": task_definition(task),
        "labels": spec.row_labels(target),
        "data": {f"{s}.{lang}": source_fingerprint(task, s, lang, data_dir) for s, lang in read},
    }
    if task.ops.is_retrieval:
        gold_only = task.is_mining and data_dir is None and task.local_dir is None
        if gold_only and not spec.retrieval.allow_gold_only_mining:
            raise UserError(
                f"target '{target}' would mine among its hub source's gold pairs only ({task.source.id if task.source else '?'}"
                f"): that is not BUCC. Give the official download with data_dirs: {{{target}: DIR}} (bucc2018/"
                f"<lang>-en.<split>.<lang|en>[.gold]), or set retrieval: {{allow_gold_only_mining: true}} to accept "
                "numbers labelled gold-only"
            )
        job["retrieval"] = {
            "layer": m.retrieval_layer,
            "direction": spec.retrieval.direction,
            "pooling": spec.retrieval.pooling,
            "gold_only": gold_only,
        }
    return job


def ranking_computer(spec: ExperimentSpec) -> Callable[[str, str, str, list[str]], dict[str, Any]]:
    """Rankings a `selection:` block needs and its files lack: computed once and cached (experiments/rankings.py)."""

    def compute(model: str, target: str, method: str, candidates: list[str]) -> dict[str, Any]:
        from xstilts.experiments.rankings import compute_ranking

        return compute_ranking(spec, model, target, method, candidates)

    return compute


def setting_phases(s: IntermediateSetting) -> list[str]:
    """The phases a setting trains before its targets, in order: 'intermediate' (its tasks) and 'align'."""
    kinds = ["intermediate"] if s.tasks else []
    if s.align is not None:
        kinds.insert(0 if s.align.order == "before" else len(kinds), "align")
    return kinds


def setting_alignment_job(s: IntermediateSetting, seed: int, m: ModelSpec) -> dict[str, Any]:
    """The alignment phase job of a setting (xstilts.alignment.job)."""
    from xstilts.alignment.job import alignment_job

    assert s.align is not None
    a = s.align
    where = f"intermediate setting '{s.name}' align.hyperparameters"
    return alignment_job(a.corpus, a.languages, a.hyperparameters, seed, a.heldout, m.trust_remote_code, where)


def target_alignment(s: IntermediateSetting, job: dict[str, Any] | None) -> dict[str, Any]:
    """What a target node of an aligned setting (its alignment `job`) adds to its job: `alignment` with the continual
    batches (when asked) and the held-out pairs its trained encoder is measured on (the forgetting); {} for other
    settings, whose target jobs stay as they were."""
    if s.align is None or job is None:
        return {}
    from xstilts.alignment.job import continual_job, diagnose_job

    extra = {"continual": continual_job(job) if s.align.continual else None, "diagnose": diagnose_job(job)}
    return {"alignment": extra} if any(extra.values()) else {}


def build_plan(spec: ExperimentSpec) -> list[Node]:
    """The DAG of a spec: per (model, seed, intermediate setting) one intermediate node (none for the baseline), per
    target one target-training node (targets with training data) and one evaluation node. Every node holds its fully
    resolved job; its hash covers the job and its upstream hashes, so any change to what a node computes changes its
    hash and its dependents' hashes, and nothing else. Linear in the number of nodes."""
    nodes: list[Node] = []
    by_id: dict[str, Node] = {}
    eval_jobs = {(m.name, t): evaluation_job(spec, m, t) for m in spec.models for t in spec.targets}
    keep = plan_filter(spec, compute=ranking_computer(spec))  # `selection:` prunes settings per (model, target)

    def add(node: Node, upstream: str | None) -> None:
        up = [by_id[u].hash for u in node.depends_on]
        node.hash = content_hash([node.kind, node.job, up, __version__, NUMERICS])
        if upstream is not None:
            node.start_dir = by_id[upstream].dirname()
        nodes.append(node)
        by_id[node.id] = node

    for m in spec.models:
        model = model_job(m, spec)
        for seed in spec.seeds:
            for s in spec.settings_for(m):
                inter_id = None
                if not keep.keeps_setting(m.name, s.name):
                    continue
                if s.only_targets is not None and not set(s.only_targets) & set(spec.targets):
                    continue
                align_job = setting_alignment_job(s, seed, m) if s.align is not None else None  # built once
                for kind in setting_phases(s):  # alignment before/after the tasks: a chain of phases
                    if kind == "align":
                        job = {"model": model, "align": align_job}
                    else:
                        job = {"model": model, "phase": phase_config(spec, "intermediate", s.tasks, seed, s, m).job()}
                    nid = f"{kind}/{m.name}/{s.name}/s{seed}"
                    add(
                        Node(nid, kind, m.name, s.name, seed, depends_on=[inter_id] if inter_id else [], job=job),
                        inter_id,
                    )
                    inter_id = nid
                aligned = target_alignment(s, align_job)  # continual batches and the forgetting diagnostics
                targets = [t for t in spec.targets if keep.keeps(m.name, s.name, t)]
                if s.only_targets is not None:  # a target-specific generated mixture (experiments/mixtures.py)
                    targets = [t for t in targets if t in s.only_targets]
                if not targets:
                    continue
                for target, source in (
                    (t, lang) for t in targets for lang in spec.source_languages_for(s, t)
                ):  # English: the node ids and jobs of a spec without source languages; others: `<target>@<lang>`
                    task = get_task(target)
                    upstream = [inter_id] if inter_id else []
                    label = source_label(target, source)
                    tagged: dict[str, Any] = {"source_language": source} if source != ENGLISH else {}
                    if task.has_training_data:
                        phase = phase_config(spec, "target", [target], seed, None, m, source).job()
                        job = {"model": model, "phase": phase, **tagged, **aligned}
                        tid = f"target/{m.name}/{s.name}/{label}/s{seed}"
                        add(
                            Node(tid, "target", m.name, s.name, seed, target, upstream, job, source_language=source),
                            inter_id,
                        )
                        upstream = [tid]
                    job = {"model": model, "evaluation": eval_jobs[(m.name, target)], **tagged}
                    add(
                        Node(
                            f"evaluation/{m.name}/{s.name}/{label}/s{seed}",
                            "evaluation",
                            m.name,
                            s.name,
                            seed,
                            target,
                            upstream,
                            job,
                            source_language=source,
                        ),
                        upstream[0] if upstream else None,
                    )
    save_cache()  # the data fingerprints' content hashes, for the next plan
    return nodes


ONLY_AXES = ("model", "intermediate", "target", "seed", "source_language")


def check_only(spec: ExperimentSpec, only: dict[str, list[str]]) -> None:
    """Validate `--only` filters against the spec (unknown axis or value: a UserError naming the valid ones)."""
    known = {
        "model": [m.name for m in spec.models],
        "intermediate": [s.name for s in spec.intermediate],
        "target": list(spec.targets),
        "seed": [str(x) for x in spec.seeds],
        "source_language": list(
            dict.fromkeys(
                lang for s in spec.intermediate for t in spec.targets for lang in spec.source_languages_for(s, t)
            )
        ),
    }
    for axis, values in only.items():
        if axis not in known:
            raise UserError(f"--only: unknown axis '{axis}'; valid: {', '.join(ONLY_AXES)}")
        bad = [v for v in values if v not in known[axis]]
        if bad:
            raise UserError(f"--only: no {axis} '{bad[0]}' in spec '{spec.name}'; known: {', '.join(known[axis])}")


def select_nodes(nodes: list[Node], only: dict[str, list[str]] | None) -> list[Node]:
    """The nodes of the full plan that match `--only` (axis -> values), with the upstream nodes they need. The jobs
    and hashes are the full grid's, so runs split by hand across machines fill one grid. Linear in the plan size."""
    if not only:
        return nodes

    def match(n: Node) -> bool:
        values = {
            "model": n.model,
            "intermediate": n.intermediate,
            "target": n.target,
            "seed": str(n.seed),
            "source_language": n.source_language,
        }
        return all(
            values[a] in v for a, v in only.items() if not (a in ("target", "source_language") and n.target is None)
        )

    by_id = {n.id: n for n in nodes}
    keep: set[str] = set()
    for n in nodes:
        if n.target is not None and match(n):
            stack = [n.id]
            while stack:
                cur = stack.pop()
                if cur not in keep:
                    keep.add(cur)
                    stack.extend(by_id[cur].depends_on)
    if "target" not in only and "source_language" not in only:  # an intermediate node is wanted for itself too when
        # no target (or source language) filter says otherwise
        keep |= {n.id for n in nodes if n.target is None and match(n)}
    return [n for n in nodes if n.id in keep]


def estimate_seconds(node: Node) -> float:
    """A coarse cost estimate from training-set sizes and epochs (evaluation counted as 30 s)."""
    if node.kind == "evaluation":
        return 30.0
    if node.kind == "align":  # three encoder passes (both sides, the frozen start) per pair
        job = node.job["align"]
        pairs = sum(min(n, job["settings"]["max_pairs"] or n) for n in job["lines"].values())
        return pairs / 1000 * 3 * float(job["settings"]["num_epochs"]) * _SECONDS_PER_K_EXAMPLES
    phase = node.job["phase"]
    total = 0.0
    for _t, where in phase["tasks"].items():
        n = task_from(phase.get("definitions"), where["source_task"]).size or 10_000
        hp = where["hparams"]
        if hp.get("max_train_examples"):
            n = min(n, int(hp["max_train_examples"]))
        total += n / 1000 * float(hp["num_epochs"]) * _SECONDS_PER_K_EXAMPLES
    return total


def node_dir(out: Path, node: Node) -> Path:
    return out / "nodes" / node.dirname()


def record_name(kind: str) -> str:
    """The file whose presence marks a node of this kind as finished."""
    return EVAL_RECORD if kind == "evaluation" else PHASE_RECORD


def is_done(out: Path, node: Node) -> bool:
    return (node_dir(out, node) / record_name(node.kind)).is_file()


def recorded_lookup(out: Path) -> Callable[[str, str | None], bool]:
    """For `xstilts status` (which reads events, not the spec): whether the node an event names has its completion
    record, in the directory the event names; for events without one (runs before events named it), in the only
    directory of that node id, if there is exactly one. The nodes folder is listed once."""
    nodes = out / "nodes"
    by_id: dict[str, list[str]] = {}
    if nodes.is_dir():
        for d in nodes.iterdir():
            if not d.name.startswith("."):  # not a node's hidden staging folder
                by_id.setdefault(d.name[:-13], []).append(d.name)  # less "-" and the 12-character hash

    def recorded(node_id: str, dirname: str | None) -> bool:
        if not dirname:
            dirs = by_id.get(node_id.replace("/", "-"), [])
            dirname = dirs[0] if len(dirs) == 1 else None
        return dirname is not None and (nodes / dirname / record_name(node_id.split("/", 1)[0])).is_file()

    return recorded


def plan_summary(spec: ExperimentSpec, nodes: list[Node], out: Path | None) -> dict[str, Any]:
    """Counts per kind (total, done), the coarse remaining cost, the (language, split) pairs skipped because the data
    lacks them, and every node with its job."""
    done = {n.id: (out is not None and is_done(out, n)) for n in nodes}
    counts: dict[str, dict[str, int]] = {}
    for n in nodes:
        c = counts.setdefault(n.kind, {"total": 0, "done": 0})
        c["total"] += 1
        c["done"] += int(done[n.id])
    remaining = sum(estimate_seconds(n) for n in nodes if not done[n.id])
    skipped: dict[str, list[str]] = {}
    for n in nodes:
        if n.kind == "evaluation":
            for sk in n.job["evaluation"]["skipped"]:
                skipped.setdefault(n.target or "", [])
                item = f"{sk['language']}:{sk['split']}"
                if item not in skipped[n.target or ""]:
                    skipped[n.target or ""].append(item)
    return {
        "name": spec.name,
        "counts": counts,
        "estimated_gpu_hours_remaining": round(remaining / 3600, 2),
        "costs": _costs(spec, nodes, done, out),  # GPU-hours per kind, disk at peak and end (experiments/costs.py)
        "skipped": skipped,
        "pruned": plan_filter(spec, compute=ranking_computer(spec)).pruned(),
        "mixtures": generated_summary(spec),
        "mixtures_pending": list(spec.mixtures.pending) if spec.mixtures is not None else [],
        "missing_data": missing_data(spec, nodes),
        "nodes": [n.public(done[n.id]) for n in nodes],
    }


def missing_data(spec: ExperimentSpec, nodes: list[Node]) -> list[str]:
    """What the plan reads from local folders and is not there, one line each (`xstilts plan` prints them; the nodes
    that read it would fail): every absent `data_dirs` folder, and each translated training file of a non-English
    source language that its folder lacks."""
    from xstilts.data.xtreme import OFFICIAL_READERS, TRANSLATIONS_LAYOUT

    out = []
    dirs = [(f"data_dirs {k}", k, d) for k, d in spec.data_dirs.items()]
    dirs += [
        (f"intermediate setting '{s.name}' data_dirs {k}", k, d)
        for s in spec.intermediate
        for k, d in s.data_dirs.items()
    ]
    for where, key, folder in dirs:
        if not Path(folder).exists():
            what = f" ({TRANSLATIONS_LAYOUT})" if key.split(".")[0] == TRANSLATE_TRAIN else ""
            out.append(f"{where}: {folder} not found{what}; the nodes that read it would fail")
    seen = set()
    for n in nodes:
        if n.kind != "target" or n.source_language == ENGLISH or (n.target, n.source_language) in seen:
            continue
        seen.add((n.target, n.source_language))
        where = n.job["phase"]["tasks"][n.target]
        folder, fp = where["data_dir"], where["data"]["train"]
        if not Path(folder).exists() or fp.get("files"):
            continue
        reader = OFFICIAL_READERS.get(where["source_task"])
        if fp.get("unavailable"):
            expected = fp["unavailable"]
        elif fp.get("kind") == "official" and reader is not None:
            expected = str(reader.locate(Path(folder), "train", n.source_language)[0][0])
        else:
            expected = str(Path(folder) / f"train.{n.source_language}.jsonl")
        out.append(f"{n.target_label}: translated training data ({where['source_task']}) not found: {expected}")
    return out


def _costs(spec: ExperimentSpec, nodes: list[Node], done: dict[str, bool], out: Path | None) -> dict[str, Any]:
    from xstilts.experiments.costs import plan_costs  # it imports this module

    return plan_costs(nodes, done, spec.checkpoints.target, out)
