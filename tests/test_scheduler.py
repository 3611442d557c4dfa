"""The one scheduling loop of every executor (experiments/run.py `schedule`), driven with fake submit / wait functions
over the paper's grid (no node runs): every node starts once, never before its dependencies finish, in plan order when
nodes run in-process; a failing node skips exactly the nodes downstream of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from xstilts.experiments.plan import build_plan
from xstilts.experiments.run import schedule
from xstilts.experiments.spec import load_spec

PAPER = Path(__file__).resolve().parents[1] / "experiments" / "paper.yaml"


class Fake:
    """submit / wait_any / result for schedule(): records the start order; `fail` names nodes whose result raises; with
    `batch` > 0, wait_any hands back that many of the oldest handles (a pool or a cluster finishing nodes out of
    order)."""

    def __init__(self, fail: set[str] = frozenset(), batch: int = 0):
        self.started: list[str] = []
        self.fail, self.batch = set(fail), batch

    def submit(self, node, out_dir: str):
        self.started.append(node.id)
        return node.id

    def wait_any(self, handles: list[str]) -> list[str]:
        return handles[-self.batch :] if self.batch else handles[:1]

    def result(self, handle: str) -> list:
        if handle in self.fail:
            raise RuntimeError(f"{handle} broke")
        return []


def _run(tmp_path: Path, fake: Fake, synchronous: bool) -> dict:
    spec = load_spec(PAPER)
    return schedule(spec, tmp_path, fake.submit, fake.wait_any, fake.result, synchronous=synchronous)


@pytest.mark.parametrize("synchronous,batch", [(True, 0), (False, 0), (False, 3)])
def test_every_node_once_after_its_dependencies(tmp_path, synchronous, batch):
    nodes = build_plan(load_spec(PAPER))
    fake = Fake(batch=batch)
    summary = _run(tmp_path, fake, synchronous)
    assert summary["failed"] == {}
    assert sorted(fake.started) == sorted(n.id for n in nodes)
    seen: set[str] = set()
    for node_id in fake.started:
        node = next(n for n in nodes if n.id == node_id)
        assert set(node.depends_on) <= seen, node_id
        seen.add(node_id)
    if synchronous:  # in-process: exactly the plan's (topological) order
        assert fake.started == [n.id for n in nodes]


def test_failure_skips_exactly_the_downstream_nodes(tmp_path):
    nodes = build_plan(load_spec(PAPER))
    needed = {d for n in nodes for d in n.depends_on}
    broken = next(n for n in nodes if n.id in needed)  # the first intermediate node: targets and evaluations below it
    downstream = {broken.id}
    for n in nodes:  # plan order is topological
        if any(d in downstream for d in n.depends_on):
            downstream.add(n.id)
    fake = Fake(fail={broken.id})
    summary = _run(tmp_path, fake, synchronous=False)
    assert set(summary["failed"]) == downstream
    assert summary["failed"][broken.id].startswith("RuntimeError")
    assert all(summary["failed"][d].startswith("skipped: upstream ") for d in downstream - {broken.id})
    assert set(fake.started) == {n.id for n in nodes} - (downstream - {broken.id})
