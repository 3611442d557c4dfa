"""Reliability of a grid run: SIGKILL anywhere, two runs on one directory, a full or read-only disk, corrupted outputs,
a diverging node, determinism, and no file the user gives is unpickled or written outside the run directory.

The grids are tiny (7 toy nodes, 2 optimizer steps each) so that many kills fit in a few minutes."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from xstilts.errors import UserError
from xstilts.experiments.lock import LOCK_FILE, RunLock
from xstilts.experiments.plan import build_plan
from xstilts.experiments.spec import load_spec

HP = {
    "max_seq_length": 32,
    "batch_size": 8,
    "grad_accumulation": 1,
    "learning_rate": 1e-3,
    "eval_every_steps": 1000,
    "max_train_examples": 16,
    "max_steps": 2,
    "max_eval_examples": 16,
}


def tiny_spec(path: Path, model_dir: Path, **extra) -> Path:
    """7 nodes: intermediate cls; targets (none, cls); evaluations of toy_target and toy_retrieval for both settings."""
    spec = {
        "name": "tiny",
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [{"name": "none"}, {"name": "cls", "tasks": ["toy_cls"]}],
        "targets": ["toy_target", "toy_retrieval"],
        "seeds": [0],
        "hyperparameters": {"intermediate": dict(HP), "target": dict(HP)},
    }
    for k, v in extra.items():
        spec[k] = v
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def cli_env(toy_tasks: Path) -> dict[str, str]:
    # One thread: the same arithmetic in every process, so results are comparable bit for bit.
    return {**os.environ, "XSTILTS_TASK_DIRS": str(toy_tasks), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def xstilts(*args: str, env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args], env=env, capture_output=True, text=True, timeout=600, **kw
    )


def events(out: Path) -> list[dict]:
    p = out / "events.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def finished_dirs(out: Path) -> set[str]:
    """Node directories holding a completion record; not the hidden `.<node>.<random>.partial` folders a node's
    output is assembled in (a kill between writing its record there and the rename leaves one: that node has not
    finished, and resuming runs it again)."""
    nodes = out / "nodes"
    return (
        {
            d.name
            for d in nodes.iterdir()
            if not d.name.startswith(".") and ((d / "done.json").is_file() or (d / "phase.json").is_file())
        }
        if nodes.is_dir()
        else set()
    )


# ---------------------------------------------------------------------------------------------------------- kill anywhere

KILLS = 20


@pytest.mark.slow
def test_sigkill_anywhere_then_resume_is_byte_identical(tiny_models, toy_tasks, tmp_path):
    """20 seeded kill points spread over every stretch of the run (before the first node, inside each node, right after
    each event); each killed run is resumed: results.csv is byte-identical to an uninterrupted run, and no node that
    had finished when the kill came ran again."""
    spec_path = tiny_spec(tmp_path / "s.yaml", tiny_models["bert"])
    env = cli_env(toy_tasks)
    by_dir = {n.dirname(): n.id for n in build_plan(load_spec(spec_path))}
    cmd = [sys.executable, "-m", "xstilts.cli", "run", str(spec_path), "--quiet", "--out"]

    t0 = time.time()
    subprocess.run(cmd + [str(tmp_path / "clean")], env=env, check=True, capture_output=True, timeout=600)
    t_end = time.time() - t0
    clean_events = events(tmp_path / "clean")
    times = [0.0] + [e["time"] - t0 for e in clean_events] + [t_end]
    clean = (tmp_path / "clean" / "results.csv").read_bytes()

    rng = random.Random(20261130)
    points = []  # (events to wait for, then seconds): every gap between consecutive events gets kills
    for i in range(KILLS):
        k = i * (len(times) - 1) // KILLS
        points.append((k, rng.uniform(0, max(0.0, times[k + 1] - times[k]))))

    def trial(i: int) -> dict:
        out = tmp_path / f"kill{i}"
        k, delay = points[i]
        proc = subprocess.Popen(cmd + [str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(events(out)) < k:
            time.sleep(0.005)
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_at_kill = {by_dir[d] for d in finished_dirs(out)}
        n_before = len(events(out))
        res = subprocess.run(cmd + [str(out)], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        after = events(out)[n_before:]
        rerun = {e["node"] for e in after if e["event"] == "start"} & done_at_kill
        return {
            "alive": alive,
            "done_at_kill": len(done_at_kill),
            "rerun": rerun,
            "same": (out / "results.csv").read_bytes() == clean,
            "repairs": [e for e in after if e["event"] == "repaired"],
        }

    with ThreadPoolExecutor(max_workers=2) as pool:
        trials = list(pool.map(trial, range(KILLS)))
    for i, t in enumerate(trials):
        assert t["same"], f"kill {i} at {points[i]}: results.csv differs from the uninterrupted run"
        assert not t["rerun"], f"kill {i}: finished node(s) ran again: {t['rerun']}"
    live = [t for t in trials if t["alive"]]
    assert len(live) >= KILLS - 2  # the kills really hit a running process
    assert len({t["done_at_kill"] for t in live}) >= 4, [t["done_at_kill"] for t in live]  # spread over the run
    print(
        f"kill points: {len(live)} live of {KILLS}; nodes finished at kill: {[t['done_at_kill'] for t in trials]}; "
        f"clean run {t_end:.1f} s"
    )


# --------------------------------------------------------------------------------------------------- two runs, one directory


def _hold_lock(out: Path, seconds: float) -> subprocess.Popen:
    code = (
        "import sys, time; from pathlib import Path; from xstilts.experiments.lock import RunLock\n"
        f"l = RunLock(Path({str(out)!r})); l.acquire(); print('held', flush=True); time.sleep({seconds}); l.release()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_refuses_waits_or_takes_over_a_stale_lock(tiny_models, toy_tasks, tmp_path):
    spec_path = tiny_spec(
        tmp_path / "s.yaml", tiny_models["bert"], targets=["toy_retrieval"], intermediate=[{"name": "none"}]
    )  # one evaluation node: fast
    env = cli_env(toy_tasks)
    out = tmp_path / "run"
    holder = _hold_lock(out, 60)
    owner = json.loads((out / LOCK_FILE).read_text())
    assert owner["pid"] == holder.pid and owner["host"] and owner["started"]
    res = xstilts("run", str(spec_path), "--out", str(out), "--quiet", env=env)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"another xstilts run is using this directory (pid {holder.pid}" in res.stderr and "--wait" in res.stderr
    assert not (out / "events.jsonl").exists() and not (out / "nodes").exists()  # the refused run touched nothing

    # A killed owner leaves a stale lock: the next run on this host takes it over and says so.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (out / LOCK_FILE).exists()
    res = xstilts("run", str(spec_path), "--out", str(out), "--quiet", env=env)
    assert res.returncode == 0, res.stderr
    assert f"took over a stale lock of pid {holder.pid}" in res.stderr
    assert not (out / LOCK_FILE).exists()  # released at the end

    # --wait: the second run starts when the first releases.
    holder = _hold_lock(out, 4)
    t0 = time.time()
    res = xstilts("run", str(spec_path), "--out", str(out), "--quiet", "--wait", env=env)
    holder.wait()
    assert res.returncode == 0, res.stderr
    assert time.time() - t0 >= 3.5 and "ran 0 node(s) of 1" in res.stdout


def test_lock_owned_elsewhere_is_never_taken_over(tmp_path, monkeypatch):
    """A lock of a live process, or of another host (its pid cannot be checked from here), is respected."""
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "some-other-host", "started": "then"}))
    with pytest.raises(UserError, match="pid 1 on some-other-host"):
        RunLock(out).acquire()
    with RunLock(out / "b") as lock:  # re-entrant in one process: the CLI and the scheduler both take it
        with RunLock(out / "b"):
            pass
        assert (out / "b" / LOCK_FILE).exists() and lock.note is None
    assert not (out / "b" / LOCK_FILE).exists()


# ------------------------------------------------------------------------------------------------- full disk, no permission


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/fake/disk/file")


def test_full_disk_mid_node_fails_the_node_and_nothing_half_written_is_done(
    tiny_models, toy_tasks, tmp_path, monkeypatch
):
    """The checkpoint writer runs out of space after writing part of its files: the node fails (exit 1 from the CLI),
    its dependents are skipped, the rest of the grid runs, and the partial output is never taken as done."""
    from xstilts.experiments.run import run_local
    from xstilts.modeling import model as modeling

    real_save = modeling.save_checkpoint

    def save_then_fill_disk(model, tok, d, *a, **k):
        real_save(model, tok, d, *a, **k)  # files written: now the disk is full
        if "toy_cls" in model.head_specs:  # the intermediate cls phase
            _enospc()

    monkeypatch.setattr("xstilts.training.phase.save_checkpoint", save_then_fill_disk)
    spec = load_spec(tiny_spec(tmp_path / "s.yaml", tiny_models["bert"]))
    out = tmp_path / "run"
    summary = run_local(spec, out, progress=False)
    assert "No space left on device" in summary["failed"]["intermediate/tiny/cls/s0"]
    assert summary["failed"]["evaluation/tiny/cls/toy_target/s0"].startswith("skipped")
    assert "evaluation/tiny/none/toy_target/s0" in summary["ran"]
    inter = next(n for n in build_plan(spec) if n.id == "intermediate/tiny/cls/s0")
    assert not (out / "nodes" / inter.dirname()).exists()  # only a temporary directory was written
    monkeypatch.undo()
    again = run_local(spec, out, progress=False)  # space freed: the node and its dependents run, nothing else
    assert sorted(again["ran"]) == sorted(summary["failed"]) and again["failed"] == {}
    assert not [p for p in (out / "nodes").iterdir() if p.name.startswith(".")]  # partial outputs cleaned on resume


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    from xstilts import cli

    monkeypatch.setattr(sys, "argv", ["xstilts", *argv])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr().err.strip()


def test_full_disk_in_the_driver_is_one_line_exit_2(tiny_models, toy_tasks, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("xstilts.experiments.run.append_results", _enospc)
    spec_path = tiny_spec(
        tmp_path / "s.yaml", tiny_models["bert"], targets=["toy_retrieval"], intermediate=[{"name": "none"}]
    )
    code, err = _main(monkeypatch, capsys, "run", str(spec_path), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err
    assert len((tmp_path / "run" / "results.csv").read_text().splitlines()) == 1  # the header only
    monkeypatch.undo()  # space freed: the finished node's rows come from its record; it does not run again
    from xstilts.experiments.run import run_local

    summary = run_local(load_spec(spec_path), tmp_path / "run", progress=False)
    assert summary["ran"] == [] and len((tmp_path / "run" / "results.csv").read_text().splitlines()) > 1


def test_read_only_run_directory_is_one_line_exit_2(tiny_models, toy_tasks, tmp_path, monkeypatch, capsys):
    spec_path = tiny_spec(
        tmp_path / "s.yaml", tiny_models["bert"], targets=["toy_retrieval"], intermediate=[{"name": "none"}]
    )
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root ignores file modes: inject the error the kernel would give instead

        def denied(self):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.path))

        monkeypatch.setattr(RunLock, "_try_create", denied)
    else:
        ro.chmod(0o500)
    try:
        code, err = _main(monkeypatch, capsys, "run", str(spec_path), "--out", str(ro / "run"), "--quiet")
    finally:
        ro.chmod(0o700)
    assert code == 2 and len(err.splitlines()) == 1 and "Permission denied" in err, err
    assert "expected a writable directory" in err


# ---------------------------------------------------------------------------------------------------------- corrupted outputs


@pytest.fixture(scope="module")
def finished_run(tiny_models, toy_tasks, tmp_path_factory):
    from xstilts.experiments.run import run_local

    root = tmp_path_factory.mktemp("finished")
    # targets' weights kept, so that their corruption can be tested (dropped weights: tests/test_retention.py)
    spec = load_spec(tiny_spec(root / "s.yaml", tiny_models["bert"], checkpoints={"target": "keep"}))
    assert run_local(spec, root / "run", progress=False)["failed"] == {}
    return spec, root / "run"


def _node_dir(spec, out: Path, node_id: str) -> Path:
    return out / "nodes" / next(n for n in build_plan(spec) if n.id == node_id).dirname()


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only a checksum can tell
    p.write_bytes(bytes(data))


def _edit_json(p: Path, fn) -> None:
    rec = json.loads(p.read_text())
    fn(rec)
    p.write_text(json.dumps(rec, indent=2))


INTER, TGT_CLS = "intermediate/tiny/cls/s0", "target/tiny/cls/toy_target/s0"
EVAL_CLS = "evaluation/tiny/cls/toy_target/s0"
DOWNSTREAM_OF_INTER = {INTER, TGT_CLS, EVAL_CLS, "evaluation/tiny/cls/toy_retrieval/s0"}

# (name, corruption, nodes that must be recomputed, words of the report line)
CORRUPTIONS = [
    ("results_truncated_mid_row", lambda s, o: _truncate(o / "results.csv", 0.6), set(), "truncated or edited"),
    ("results_last_rows_lost", lambda s, o: _drop_lines(o / "results.csv", 3), set(), "were missing"),
    (
        "results_value_edited",
        lambda s, o: _replace(o / "results.csv", ",0,score,", ",0,score,9"),
        set(),
        "truncated or edited",
    ),
    ("results_deleted", lambda s, o: (o / "results.csv").unlink(), set(), None),
    (
        "intermediate_safetensors_bit_flip",
        lambda s, o: _flip(_weights(_node_dir(s, o, INTER))),
        DOWNSTREAM_OF_INTER,
        "is corrupted",
    ),
    (
        "target_safetensors_truncated",
        lambda s, o: _truncate(_weights(_node_dir(s, o, TGT_CLS)), 0.5),
        {TGT_CLS, EVAL_CLS},
        "is truncated",
    ),
    (
        "done_json_value_tampered",
        lambda s, o: _edit_json(_node_dir(s, o, EVAL_CLS) / "done.json", lambda r: r["rows"][0].update(value=99.0)),
        {EVAL_CLS},
        "edited after the node finished",
    ),
    (
        "done_json_truncated",
        lambda s, o: _truncate(_node_dir(s, o, EVAL_CLS) / "done.json", 0.5),
        {EVAL_CLS},
        "not valid JSON",
    ),
    (
        "phase_json_tampered",
        lambda s, o: _edit_json(_node_dir(s, o, TGT_CLS) / "phase.json", lambda r: r["train"].update(best_step=-1)),
        {TGT_CLS, EVAL_CLS},
        "edited after the node finished",
    ),
    (
        "phase_json_deleted",
        lambda s, o: (_node_dir(s, o, INTER) / "phase.json").unlink(),
        DOWNSTREAM_OF_INTER,
        "phase.json missing",
    ),
    (
        "prediction_file_deleted",
        lambda s, o: next((_node_dir(s, o, EVAL_CLS) / "predictions").rglob("*.tsv")).unlink(),
        {EVAL_CLS},
        "is missing",
    ),
]


def _weights(d: Path) -> Path:
    return next(d.rglob("*.safetensors"))


def _truncate(p: Path, frac: float) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * frac)])


def _drop_lines(p: Path, n: int) -> None:
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:-n]))


def _replace(p: Path, old: str, new: str) -> None:
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("name,corrupt,recomputed,words", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupted_output_is_detected_reported_and_recomputed(
    finished_run, tmp_path, capsys, name, corrupt, recomputed, words
):
    from xstilts.experiments.run import run_local

    spec, src = finished_run
    out = tmp_path / "run"
    shutil.copytree(src, out)
    corrupt(spec, out)
    capsys.readouterr()
    summary = run_local(spec, out, progress=False)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning:")]
    assert set(summary["ran"]) == recomputed and summary["failed"] == {}
    assert (out / "results.csv").read_bytes() == (src / "results.csv").read_bytes()  # never a tampered number
    if words is None:
        assert err == []
    else:
        assert [ln for ln in err if words in ln], err
        assert not recomputed or any(n in ln for n in recomputed for ln in err), err
    if recomputed:
        assert list((out / "corrupt").iterdir())  # the bad output is kept aside as evidence, never used
    assert run_local(spec, out, progress=False)["ran"] == []  # and the repaired run is whole again


def test_results_can_be_rebuilt_from_node_records(finished_run, tmp_path):
    """results.csv is derived data: the finished nodes' done.json records rebuild it exactly."""
    from xstilts.experiments.run import EVAL_RECORD
    from xstilts.results import read_results, sync_results

    spec, src = finished_run
    nodes = [n for n in build_plan(spec) if n.kind == "evaluation"]
    recs = [(n.key, json.loads((src / "nodes" / n.dirname() / EVAL_RECORD).read_text())["rows"]) for n in nodes]
    rebuilt = tmp_path / "results.csv"
    assert sync_results(rebuilt, recs) is None
    assert rebuilt.read_bytes() == (src / "results.csv").read_bytes()
    assert len(read_results(rebuilt)) == sum(len(r) for _, r in recs)


# ------------------------------------------------------------------------------------------------------------ NaN / inf loss


def test_diverging_node_fails_with_step_and_task_and_the_rest_runs(tiny_models, toy_tasks, tmp_path, monkeypatch):
    """A NaN loss in the cls intermediate phase: that node fails naming the step and the task, its dependents are
    skipped, and every other node of the grid runs."""
    import torch

    from xstilts.experiments.run import run_local
    from xstilts.modeling.model import MultiTaskModel

    real_forward = MultiTaskModel.forward

    def nan_for_cls(self, task, batch, *a, **k):
        out = real_forward(self, task, batch, *a, **k)
        if task == "toy_cls" and "loss" in out:  # training batches only (dev batches have no loss)
            out["loss"] = out["loss"] * torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(MultiTaskModel, "forward", nan_for_cls)
    spec = load_spec(tiny_spec(tmp_path / "s.yaml", tiny_models["bert"]))
    summary = run_local(spec, tmp_path / "run", progress=False)
    why = summary["failed"][INTER]
    assert "toy_cls" in why and re.search(r"step \d+", why), why
    for dep in DOWNSTREAM_OF_INTER - {INTER}:
        assert summary["failed"][dep].startswith("skipped: upstream"), summary["failed"]
    assert set(summary["failed"]) == DOWNSTREAM_OF_INTER
    assert len(summary["ran"]) == 3  # target none, and both evaluations of the baseline


# ------------------------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_numbers(tiny_models, toy_tasks, tmp_path):
    from xstilts.experiments.run import run_local
    from xstilts.results import read_results

    def run(name: str, seed: int) -> Path:
        spec = load_spec(tiny_spec(tmp_path / f"{name}.yaml", tiny_models["bert"], seeds=[seed]))
        assert run_local(spec, tmp_path / name, progress=False)["failed"] == {}
        return tmp_path / name / "results.csv"

    a, b, c = run("a", 0), run("b", 0), run("c", 1)
    assert a.read_bytes() == b.read_bytes()
    assert [r.value for r in read_results(a)] and len(read_results(a)) == len(read_results(c))

    def losses(run_dir: Path) -> list[list[float]]:  # every phase's per-batch training losses, in plan order
        return [json.loads(p.read_text())["train"]["losses"] for p in sorted((run_dir / "nodes").glob("*/phase.json"))]

    assert losses(a.parent) == losses(b.parent)
    # Another seed: another head initialization and batch order, so other training losses in every phase (the 16-example
    # toy accuracies themselves may coincide).
    assert all(x != y for x, y in zip(losses(a.parent), losses(c.parent), strict=True))


# ------------------------------------------------------------------------------------------------------------------ safety


def test_no_user_file_is_unpickled():
    """No pickle, no torch.load without weights_only=True, no numpy allow_pickle anywhere in the package."""
    import ast

    src = Path(__file__).resolve().parents[1] / "src" / "xstilts"
    bad = []
    for p in src.rglob("*.py"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib", "shelve") for n in names):
                    bad.append(f"{p}:{node.lineno}: imports a pickle module")
            if isinstance(node, ast.Call):
                f = ast.unparse(node.func)
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if f.endswith("torch.load") and kw.get("weights_only") != "True":
                    bad.append(f"{p}:{node.lineno}: torch.load without weights_only=True")
                if kw.get("allow_pickle") == "True" or kw.get("use_safetensors") == "False":
                    bad.append(f"{p}:{node.lineno}: {f}(...) may unpickle")
    assert bad == []


def test_trust_remote_code_off_by_default_and_recorded_when_on(finished_run, tmp_path):
    from xstilts.experiments.spec import ModelSpec
    from xstilts.results import ResultRow, format_rows, read_results

    assert ModelSpec(name="m").trust_remote_code is False
    spec, out = finished_run
    assert {r.trust_remote_code for r in read_results(out / "results.csv")} == {""}
    row = {
        "model": "m",
        "intermediate": "none",
        "target": "t",
        "language": "en",
        "split": "dev",
        "seed": 0,
        "metric": "score",
        "value": 1.0,
        "node": "n",
        "trust_remote_code": True,
    }
    p = tmp_path / "r.csv"
    p.write_text(",".join(ResultRow.__dataclass_fields__) + "\n" + format_rows([row]))
    assert read_results(p)[0].trust_remote_code == "true"


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", "../escape"),
        ("name", "a/b"),
        ("setting", "../../x"),
        ("model", "m/../../x"),
        ("target", "../toy_target"),
    ],
)
def test_names_cannot_escape_the_run_directory(tiny_models, toy_tasks, tmp_path, field, value):
    spec = {
        "name": "ok",
        "models": [{"name": "tiny", "path": str(tiny_models["bert"])}],
        "intermediate": [{"name": "none"}],
        "targets": ["toy_retrieval"],
    }
    if field == "setting":
        spec["intermediate"][0]["name"] = value
    elif field == "model":
        spec["models"][0]["name"] = value
    elif field == "target":
        spec["targets"] = [value]
    else:
        spec[field] = value
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match=r"s.yaml"):
        load_spec(p)


def test_remove_partial_outputs_deletes_the_scratch_folders_atomic_directory_leaves(tmp_path):
    """A killed run leaves atomic_directory's hidden .partial (and .old) folders beside the nodes; a resume deletes
    them and nothing else."""
    from xstilts.atomic import atomic_directory
    from xstilts.integrity import remove_partial_outputs

    nodes = tmp_path / "nodes"
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(nodes / "kept") as tmp:
            (tmp / "x").write_text("1")
            partial = tmp
            raise KeyboardInterrupt
    assert not partial.exists()  # an interrupt in-process cleans up; a SIGKILL cannot, so make one by hand
    (nodes / ".target-a.k2j3.partial").mkdir(parents=True)
    (nodes / ".target-b.x9.old").mkdir()
    (nodes / "target-c-0123456789ab").mkdir()
    assert remove_partial_outputs(tmp_path) == 2
    assert [p.name for p in nodes.iterdir()] == ["target-c-0123456789ab"]
