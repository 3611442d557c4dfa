"""`xstilts results` on a synthetic run directory: filters, a table that fits 80 columns with every number it prints in
full, the languages left out said, and csv that round-trips the rows it shows."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xstilts.analysis.results import filter_rows, pivot, read_csv_rows, render_table
from xstilts.cli import app
from xstilts.languages import XTREME_TASK2LANGS
from xstilts.results import COLUMNS, read_results

MODELS = ["mbert", "xlmr-large"]
SETTINGS = ["none", "mnli", "all_nine_temperature"]
SEEDS = ["0", "1"]


def value(*key: str) -> float:
    """A deterministic value with six decimals (as results.csv stores them), 0 to 100."""
    h = sum((i + 1) * ord(ch) for i, ch in enumerate("/".join(key)))
    return round((h * 7919) % 100_000 / 1000.0 + (h % 997) / 1e6, 6)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """results.csv (the full schema) for xnli (15 languages) and panx (40), two metrics per language; mbert's `mnli`
    panx rows lack English (a mean over fewer languages)."""
    run = tmp_path / "run"
    run.mkdir()
    with (run / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        for model in MODELS:
            for setting in SETTINGS:
                for target in ("xnli", "panx"):
                    for seed in SEEDS:
                        for lang in XTREME_TASK2LANGS[target]:
                            if (model, setting, target, lang) == ("mbert", "mnli", "panx", "en"):
                                continue
                            for metric in ("score", "accuracy" if target == "xnli" else "f1"):
                                v = value(model, setting, target, seed, lang, metric)
                                node = f"evaluation/{model}/{setting}/{target}/s{seed}"
                                row = [model, setting, target, lang, "test", seed, metric, f"{v:.6f}", node]
                                w.writerow(row + [""] * (len(COLUMNS) - len(row)))  # optional columns empty
    return run


def _invoke(*args: str, columns: int | None = 80):
    env = {"COLUMNS": str(columns)} if columns else {}
    res = CliRunner().invoke(app, ["results", *args], env=env)
    assert res.exit_code == 0, res.output
    return res.output


def test_at_80_columns_every_printed_number_is_whole(run_dir):
    output = _invoke(str(run_dir), "--target", "xnli")
    assert "\u2026" not in output and "..." not in output  # nothing cut short
    assert max(len(line) for line in output.splitlines()) <= 80
    rows = [r for r in read_results(run_dir / "results.csv") if r.target == "xnli" and r.metric == "score"]
    lines = output.splitlines()
    header = lines[1].split()
    assert header[: header.index("avg") + 1] == ["model", "intermediate", "seed", "avg"]  # the mean first
    shown = header[header.index("avg") + 1 :]
    langs = XTREME_TASK2LANGS["xnli"]
    assert shown == langs[: len(shown)] and 3 <= len(shown) < len(langs)
    assert f"{len(langs) - len(shown)} of {len(langs)} languages not shown" in " ".join(lines)
    data = [line.split() for line in lines[3:] if line and line.split()[0] in MODELS]
    assert len(data) == len(MODELS) * len(SETTINGS) * len(SEEDS)
    for cells in data:
        model, setting, seed, avg, *numbers = cells
        vals = {r.language: r.value for r in rows if (r.model, r.intermediate, r.seed) == (model, setting, seed)}
        assert avg == f"{sum(vals.values()) / len(vals):.1f}"
        assert numbers == [f"{vals[lang]:.1f}" for lang in shown]  # each number printed whole, none cut
    assert lines[0] == "xnli: score (split test)"  # constant key columns go to the title


def test_width_option_and_filters(run_dir):
    output = _invoke(
        str(run_dir),
        "--target",
        "panx",
        "--model",
        "mbert",
        "--intermediate",
        "none,mnli",
        "--width",
        "60",
        columns=None,
    )
    lines = output.splitlines()
    assert lines[0] == "panx: score (model mbert, split test)"
    assert max(len(line) for line in lines) <= 60
    data = [line.split() for line in lines[3:] if line and line.split()[0] in SETTINGS]
    assert [(c[0], c[1]) for c in data] == [("none", "0"), ("none", "1"), ("mnli", "0"), ("mnli", "1")]
    assert all(c[2].endswith("*") for c in data if c[0] == "mnli")  # no English: a mean over fewer languages
    assert "* over fewer than the target's languages" in " ".join(lines)
    args = ["--target", "panx", "--model", "mbert", "--intermediate", "none", "--intermediate", "mnli"]
    assert _invoke(str(run_dir), *args, "--width", "60", columns=None) == output  # repeated = a comma list


def test_csv_round_trips_the_rows_it_shows(run_dir):
    output = _invoke(str(run_dir), "--target", "xnli,panx", "--model", "xlmr-large", "--format", "csv")
    shown = read_csv_rows(output)
    expected = [
        r
        for r in read_results(run_dir / "results.csv")
        if r.metric == "score" and r.model == "xlmr-large" and r.target in ("xnli", "panx")
    ]
    key = lambda r: (r.model, r.intermediate, r.target, r.language, r.split, r.seed, r.metric)  # noqa: E731
    assert sorted((key(r), r.value) for r in shown) == sorted((key(r), r.value) for r in expected)  # exact floats
    header = next(csv.reader([output.splitlines()[0]]))
    assert header[:7] == ["model", "intermediate", "target", "split", "seed", "metric", "avg"]
    assert set(header[7:]) == set(XTREME_TASK2LANGS["xnli"]) | set(XTREME_TASK2LANGS["panx"])
    for row in csv.DictReader(output.splitlines()):
        vals = [float(row[lang]) for lang in header[7:] if row[lang]]
        assert float(row["avg"]) == pytest.approx(sum(vals) / len(vals), abs=1e-12)


def test_markdown_has_every_language(run_dir):
    output = _invoke(str(run_dir), "--target", "xnli", "--model", "mbert", "--format", "markdown")
    lines = [line for line in output.splitlines() if line.startswith("|")]
    assert lines[0].split(" | ")[-1].rstrip(" |") == XTREME_TASK2LANGS["xnli"][-1]
    assert len(lines) == 2 + len(SETTINGS) * len(SEEDS)


def test_the_pivot_functions_without_the_cli(run_dir):
    rows = filter_rows(read_results(run_dir / "results.csv"), "f1", targets=["panx"], models=["xlmr-large"])
    (p,) = pivot(rows)
    assert p.target == "panx" and p.metric == "f1" and len(p.languages) == 40
    text = render_table([p], 200)
    assert "languages not shown" in text  # 40 languages do not fit 200 columns either
    assert all(len(line) <= 200 for line in text.splitlines())


def test_unknown_filter_value_is_exit_2_one_line(run_dir):
    res = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "results", str(run_dir), "--target", "xnl"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {run_dir / 'results.csv'}: no target 'xnl' in the results; known: xnli, panx"
    ]
