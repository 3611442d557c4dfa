"""Running a plan: nodes in dependency order, skipping finished ones, atomic outputs, failures isolated and summarized."""

from __future__ import annotations

import heapq
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xstilts import ledger
from xstilts.atomic import atomic_directory, atomic_write_text
from xstilts.experiments.lock import RunLock
from xstilts.experiments.plan import EVAL_RECORD, Node, build_plan, node_dir, select_nodes
from xstilts.experiments.retention import Retention
from xstilts.experiments.spec import ExperimentSpec, ModelSpec
from xstilts.integrity import verify_run, write_record
from xstilts.results import RESULTS_FILE, append_results, sync_results


def log_event(out: Path, node: Node, event: str, **extra: Any) -> None:
    """Append one event about `node` (with any extra fields) to the run's event log (xstilts.ledger)."""
    ledger.log_event(out, node.id, event, dirname=node.dirname(), **extra)


def ledger_entry(node: Node, seconds: float) -> ledger.LedgerEntry:
    """The ledger's record of a finished node."""
    phase = node.job.get("phase")
    return ledger.LedgerEntry(
        id=node.id,
        kind=node.kind,
        model=node.model,
        setting=node.intermediate,
        seed=node.seed,
        hash=node.hash,
        dir=node.dirname(),
        seconds=round(seconds, 3),
        target=node.target,
        source_language=node.source_language,
        tasks=list(phase["task_order"]) if phase else [],
    )


def spec_texts(spec: ExperimentSpec) -> list[str]:
    """Every text the spec's tasks use (training and evaluation), for vocabulary pruning."""
    from dataclasses import asdict

    from xstilts.alignment.corpus import read_corpus
    from xstilts.data.load import load_examples
    from xstilts.experiments.plan import alignment_corpora, spec_sources

    texts: list[str] = []
    for corpus, langs in alignment_corpora(spec):  # the words alignment phases read, both sides
        for lang in langs:
            for pair in read_corpus(corpus, lang, many=len(langs) > 1, max_words=10**6).pairs:
                texts += [" ".join(pair.words), " ".join(pair.english)]
    for t, split, lang, data_dir in spec_sources(spec):
        for ex in load_examples(t, split, lang, data_dir):
            for v in asdict(ex).values():
                if isinstance(v, str):
                    texts.append(v)
                elif isinstance(v, list):
                    texts.extend(x for x in v if isinstance(x, str))
                    texts.extend(x["text"] for x in v if isinstance(x, dict) and "text" in x)
    return texts


def resolve_model(m: ModelSpec, spec: ExperimentSpec, out: Path) -> str:
    """Build the model folder a model's job names, once per run (a pruned / truncated copy under out/models, atomic);
    returns its path (the path or alias itself when nothing is derived)."""
    from xstilts.experiments.plan import model_job
    from xstilts.modeling.embedded import prune_vocabulary, resolve_model_path

    job = model_job(m, spec)
    if not job["derived"]:
        return m.path
    path = resolve_model_path(m.path)
    dest = out / job["folder"]
    if not (dest / "config.json").is_file():
        if m.prune_vocabulary:
            prune_vocabulary(path, spec_texts(spec), dest, layers=m.layers)  # written through atomic_directory
        else:
            from xstilts.modeling.model import truncate_layers

            assert m.layers is not None  # derived and not pruned: truncated (model_job)
            with atomic_directory(dest) as tmp:
                truncate_layers(path, tmp, int(m.layers))
    return str(dest)


def model_start(out: Path, model: dict[str, Any]) -> str:
    """The folder (or hub id / alias) a node's model job names."""
    from xstilts.modeling.embedded import resolve_model_path

    return str(out / model["folder"]) if model["derived"] else resolve_model_path(model["path"])


def execute_node(node: Node, out: Path, progress: bool = True, log_with: str | None = None) -> list[dict[str, Any]]:
    """Run one node's job (never the spec); returns its result rows (evaluation) or []. Outputs are renamed into place
    only when complete."""
    from xstilts.training.phase import PhaseConfig, run_phase

    d = node_dir(out, node)
    start = str(out / "nodes" / node.start_dir) if node.start_dir else model_start(out, node.job["model"])
    if node.kind == "align":
        from xstilts.alignment.phase import run_alignment

        run_alignment(node.job["align"], start, d, reference=model_start(out, node.job["model"]), progress=progress)
        return []
    if node.kind in ("intermediate", "target"):
        from xstilts.evaluation.task_eval import dev_evaluator

        run_phase(
            PhaseConfig.from_job(node.job["phase"], start, log_with=log_with),
            d,
            progress=progress,
            dev_scorer=dev_evaluator,
            **alignment_hooks(node, out),
        )
        return []
    from xstilts.evaluation.zero_shot import evaluate_job

    job = node.job["evaluation"]
    t0 = time.time()
    with atomic_directory(d) as tmp:
        rows = evaluate_job(start, job, tmp, progress=progress)
        full = [
            {
                "model": node.model,
                "intermediate": node.intermediate,
                "target": node.target,
                "seed": node.seed,
                "node": node.key,
                "group": job["group"],
                "trust_remote_code": job["trust_remote_code"],
                "source_language": node.source_language,  # the language its target phase trained in
                **r,
            }
            for r in rows
        ]
        # The completion record, written last and sealed with the checksums of every file above.
        record = {"node": node.id, "hash": node.hash, "job": node.job, "rows": full, "seconds": time.time() - t0}
        write_record(tmp, EVAL_RECORD, record)
    return full


def alignment_hooks(node: Node, out: Path) -> dict[str, Any]:
    """A target phase of an aligned setting: its continual alignment batches and its forgetting diagnostics (measured
    against the pretrained model, as the alignment phase measured)."""
    extra = node.job.get("alignment")
    if not extra:
        return {}
    from xstilts.alignment.phase import continual_factory, diagnose_factory

    reference = model_start(out, node.job["model"])
    trust = bool(node.job["phase"]["trust_remote_code"])
    hooks: dict[str, Any] = {}
    if extra.get("continual"):
        hooks["auxiliary"] = continual_factory(extra["continual"], reference, trust)
    if extra.get("diagnose"):
        hooks["diagnose"] = diagnose_factory(extra["diagnose"], reference, trust)
    return hooks


def write_grid(spec: ExperimentSpec, out: Path) -> None:
    """grid.json beside results.csv: what the grid asks for (targets per model, languages per target), so a report can
    say when its averages cover less (e.g. "7/9 targets")."""
    from xstilts.experiments.mixtures import generated_summary
    from xstilts.tasks import get_task

    grid = {
        "name": spec.name,
        "targets": {m.name: list(spec.targets) for m in spec.models},
        "languages": {t: spec.target_languages(t) for t in spec.targets},
        "splits": list(spec.splits),
        # what each setting trains, and what a mixtures block generated (members, origins, diversity): the report's
        # "Scaling beyond nine" reads these
        "settings": {s.name: list(s.tasks) for s in spec.intermediate},
        "families": {t: get_task(t).family for s in spec.intermediate for t in s.tasks},
        "mixtures": generated_summary(spec),
        # the languages each target's target phases train in (source_languages): a report's per-source coverage
        "source_languages": {
            t: list(dict.fromkeys(lang for s in spec.intermediate for lang in spec.source_languages_for(s, t)))
            for t in spec.targets
        },
    }
    atomic_write_text(out / "grid.json", json.dumps(grid, indent=1))


def record_name(node: Node) -> str:
    """The completion record of a node: written last, sealed with the checksums of everything the node wrote."""
    from xstilts.training.phase import PHASE_RECORD

    return EVAL_RECORD if node.kind == "evaluation" else PHASE_RECORD


def _report(out: Path) -> Callable[[str], None]:
    """A repaired or distrusted output: one line on stderr, and in the event log."""
    import sys

    def report(line: str) -> None:
        print(f"warning: {line}", file=sys.stderr, flush=True)
        ledger.log_event(out, "(run)", "repaired", message=line)

    return report


Submit = Callable[[Node, str], Any]


def schedule(
    spec: ExperimentSpec,
    out: Path,
    submit: Submit,
    wait_any: Callable[[list[Any]], list[Any]],
    result: Callable[[Any], list[dict[str, Any]]],
    only: dict[str, list[str]] | None = None,
    synchronous: bool = False,
) -> dict[str, Any]:
    """Run every unfinished node; the one scheduling loop of every executor (in-process, worker pool, Ray).

    `submit(node, run_dir)` starts a node's job and returns a handle, `wait_any` returns the finished handles among those given (at least
    one), `result` returns a handle's rows or raises the node's error. The driver owns results.csv and the event log;
    nodes only write their own directory (atomically). A failing node skips its dependents only. `synchronous`: `submit`
    returns only when the node has finished (in-process), so each node is recorded (results.csv, its "done" event) as
    soon as it ends rather than with the other nodes that were ready at the same time.
    """
    out = Path(out).resolve()
    with RunLock(out) as lock:
        if lock.note:
            _report(out)(lock.note)
        return _schedule_locked(spec, out, submit, wait_any, result, only, synchronous)


def _schedule_locked(
    spec: ExperimentSpec,
    out: Path,
    submit: Submit,
    wait_any: Callable[[list[Any]], list[Any]],
    result: Callable[[Any], list[dict[str, Any]]],
    only: dict[str, list[str]] | None,
    synchronous: bool,
) -> dict[str, Any]:
    full = build_plan(spec)
    nodes = select_nodes(full, only)  # --only: a slice of the grid, with the full grid's hashes
    report = _report(out)
    # Every finished node of the grid is checked (checksums) before it is trusted; bad ones are moved aside, recomputed.
    records = verify_run(out, full, record_name, report)
    write_grid(spec, out)
    for m in spec.models:  # derived model folders (pruned, truncated) are built once, before any node runs
        resolve_model(m, spec, out)
    results = out / RESULTS_FILE
    rows_of: dict[str, list[dict[str, Any]]] = {
        n.id: records[n.id]["rows"] for n in full if n.kind == "evaluation" and n.id in records
    }

    def sync() -> None:  # results.csv == the grid's finished evaluation nodes' records, in plan order
        note = sync_results(results, [(n.key, rows_of[n.id]) for n in full if n.id in rows_of])
        if note:
            report(note)

    sync()
    finished: set[str] = set(records)
    retention = Retention(out, full, spec.checkpoints.target)
    for t in retention.needs_retraining(finished, (n.id for n in nodes)):
        report(f"{t}: weights dropped after its evaluations (checkpoints.target); trained again for one to recompute")
        retention.forget(t)
        finished.discard(t)
    _retain(retention, finished, list(finished), report)  # a run stopped between an evaluation and the removal
    failed: dict[str, str] = {}
    ran: list[str] = []
    pending: dict[Any, Node] = {}
    # Readiness by counting (linear in the grid): each unfinished node waits on its unfinished dependencies; a finished
    # node releases its dependents, a failed one skips them. Ready nodes start in plan order (a heap of plan positions),
    # the order a scan of the plan would start them in. A node is pushed once, when its last open dependency finishes;
    # one with a failed dependency never is.
    position = {n.id: i for i, n in enumerate(nodes)}
    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {}
    ready: list[int] = []
    for i, n in enumerate(nodes):
        if n.id in finished:
            continue
        open_deps = [d for d in n.depends_on if d not in finished]  # one outside the slice and unfinished never runs
        waiting[n.id] = len(open_deps)
        for d in open_deps:
            dependents.setdefault(d, []).append(n.id)
        if not open_deps:
            heapq.heappush(ready, i)

    def skip_dependents(node_id: str) -> None:
        stack = [node_id]
        while stack:
            up = stack.pop()
            for d in dependents.get(up, []):
                if d not in failed:
                    failed[d] = f"skipped: upstream {up} failed"
                    stack.append(d)

    started: dict[str, float] = {}  # node id -> when it started (the ledger's seconds)

    def finish(n: Node, handle: Any) -> None:
        try:
            rows = result(handle)
        except Exception as e:  # noqa: BLE001 - one failing node must not stop the others
            log = _write_log(out, n, e)
            failed[n.id] = f"{type(e).__name__}: {e} " + (f"(log: {log})" if log else "(no log: disk full?)")
            log_event(out, n, "failed", log=log or "")
            skip_dependents(n.id)
            return
        if rows:
            append_results(results, rows)
            rows_of[n.id] = rows
        finished.add(n.id)
        ran.append(n.id)
        log_event(out, n, "done")
        ledger.append_entry(out, ledger_entry(n, _node_seconds(out, n, time.time() - started.pop(n.id, time.time()))))
        _retain(retention, finished, [n.id], report)
        for d in dependents.get(n.id, []):
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, position[d])

    def start_ready() -> None:
        while ready:  # in-process (synchronous), a node's dependents join the heap as it finishes
            n = nodes[heapq.heappop(ready)]
            log_event(out, n, "start")
            started[n.id] = time.time()
            handle = submit(n, str(out))
            if synchronous:
                finish(n, handle)
            else:
                pending[handle] = n

    start_ready()
    while pending:
        for handle in wait_any(list(pending)):
            finish(pending.pop(handle), handle)
        start_ready()
    sync()
    return {"ran": ran, "failed": failed, "nodes": len(nodes)}


def _node_seconds(out: Path, node: Node, wall: float) -> float:
    """A finished node's own seconds, as its completion record says (a worker pool's queueing left out); else the
    wall-clock since its start event."""
    try:
        return float(json.loads((node_dir(out, node) / record_name(node)).read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return wall


def _retain(retention: Retention, finished: set[str], node_ids: list[str], report: Callable[[str], None]) -> None:
    """Drop the target weights no evaluation will read again; a failure to remove them is reported, never fatal."""
    try:
        retention.after(finished, node_ids)
    except OSError as e:
        report(f"could not drop target weights after {node_ids[0] if len(node_ids) == 1 else 'resume'}: {e}")


def _write_log(out: Path, node: Node, e: BaseException) -> str | None:
    """The node's traceback in logs/ (None when it cannot be written, e.g. on a full disk: the failure still counts)."""
    log = out / "logs" / f"{node.dirname()}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(e)), encoding="utf-8")
    except OSError:
        return None
    return str(log)


class _Ran:
    """The handle of a node already run in this process: its rows, or the error it raised."""

    def __init__(self, rows: list[dict[str, Any]] | None = None, error: Exception | None = None):
        self.rows, self.error = rows or [], error

    def result(self) -> list[dict[str, Any]]:
        if self.error is not None:
            raise self.error
        return self.rows


def run_local(
    spec: ExperimentSpec,
    out: Path,
    progress: bool = True,
    log_with: str | None = None,
    only: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Run every unfinished node in dependency order in this process. Failures don't stop independent nodes."""

    def submit(node: Node, out_dir: str) -> _Ran:
        try:
            return _Ran(rows=execute_node(node, Path(out_dir), progress, log_with))
        except KeyboardInterrupt:
            log_event(Path(out_dir), node, "interrupted")
            raise
        except Exception as e:  # noqa: BLE001 - reported by the scheduler, dependents skipped
            return _Ran(error=e)

    return schedule(
        spec, out, submit, wait_any=lambda handles: handles, result=lambda h: h.result(), only=only, synchronous=True
    )
