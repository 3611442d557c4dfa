"""The report's numbers against hand-computed expectations from tests/fixtures/analysis/results.csv.

The fixture: 2 models (M1 = xlm-roberta-base, M2 = bert-base-multilingual-cased), 3 settings (none, mnli, squad),
2 targets (xnli, tatoeba), 3 languages (en, de, sw), 2 seeds, split test. Decoy rows (metric precision = 0 and a
dev split with 100 - value) must not change any number. Scores per seed are listed in the comments below.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats as sps

from xstilts.analysis import stats
from xstilts.analysis.plots import diverging_colour
from xstilts.analysis.report import build_report, headline_table, run_report_cli
from xstilts.analysis.tables import AVERAGE
from xstilts.errors import UserError

FIXTURE = Path(__file__).parent / "fixtures" / "analysis"
M1, M2 = "xlm-roberta-base", "bert-base-multilingual-cased"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report([FIXTURE], out), out


def hand_paired_t_p(diffs: list[float]) -> float:
    """Two-sided paired t p-value worked from the textbook formula t = mean / (sd / sqrt(n)), df = n - 1."""
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return 2 * sps.t.sf(abs(mean / (sd / math.sqrt(n))), n - 1)


def test_split_and_decoys(report):
    data, _ = report
    assert data.split == "test"
    assert "every run has test scores" in data.split_note
    assert data.models == [M1, M2]


def test_paper_table_means_and_deltas(report):
    data, _ = report
    t = data.table(M1)
    assert t.settings == ["none", "mnli", "squad"] and t.targets == ["xnli", "tatoeba"]
    # M1 xnli none: seed1 (80+70+60)/3 = 70, seed2 (82+72+62)/3 = 72 -> mean 71, sample std sqrt(2).
    assert t.cell("none", "xnli").mean == pytest.approx(71.0)
    assert t.cell("none", "xnli").std == pytest.approx(math.sqrt(2))
    # mnli: seed1 (84+76+65)/3 = 75, seed2 (85+77+68)/3 = 76.667 -> 75.833, delta +4.833, std 1.667/sqrt(2).
    assert t.cell("mnli", "xnli").mean == pytest.approx(75 + 5 / 6)
    assert t.cell("mnli", "xnli").delta == pytest.approx(4 + 5 / 6)
    assert t.cell("mnli", "xnli").std == pytest.approx((5 / 3) / math.sqrt(2))
    # squad: seed1 212/3, seed2 215/3 -> 71.167, delta +0.167.
    assert t.cell("squad", "xnli").delta == pytest.approx(1 / 6)
    # tatoeba none: 36.667, 38.667 -> 37.667; mnli +2 everywhere; squad diffs 10,12,8 / 11,9,13 -> +10.5.
    assert t.cell("none", "tatoeba").mean == pytest.approx(37 + 2 / 3)
    assert t.cell("mnli", "tatoeba").delta == pytest.approx(2.0)
    assert t.cell("squad", "tatoeba").delta == pytest.approx(10.5)
    # Average over targets: none (71 + 37.667)/2 = 54.333; mnli 57.75 (+3.417); squad 59.667 (+5.333).
    assert t.cell("none", AVERAGE).mean == pytest.approx(54 + 1 / 3)
    assert t.cell("mnli", AVERAGE).mean == pytest.approx(57.75)
    assert t.cell("mnli", AVERAGE).delta == pytest.approx(3 + 5 / 12)
    assert t.cell("squad", AVERAGE).delta == pytest.approx(5 + 1 / 3)
    # M2 xnli mnli hurts: diffs -1,-2,-3 / -2,-1,-3 -> -2.
    assert data.table(M2).cell("mnli", "xnli").delta == pytest.approx(-2.0)


def test_best_per_column(report):
    data, _ = report
    best = {
        (m, col): [s for s in data.table(m).settings if data.table(m).cell(s, col).best]
        for m in (M1, M2)
        for col in ("xnli", "tatoeba", AVERAGE)
    }
    assert best == {
        (M1, "xnli"): ["mnli"],
        (M1, "tatoeba"): ["squad"],
        (M1, AVERAGE): ["squad"],
        (M2, "xnli"): ["squad"],
        (M2, "tatoeba"): ["mnli"],
        (M2, AVERAGE): ["squad"],
    }


def test_significance_with_holm(report):
    data, _ = report
    t = data.table(M1)
    p_mnli = hand_paired_t_p([4, 6, 5, 3, 5, 6])  # t = 10.13, p ~ 1.6e-4
    p_squad = hand_paired_t_p([1, -1, 2, -1, 1, -1])  # t = 0.307, p ~ 0.771
    assert t.cell("mnli", "xnli").test.name == "paired t" and t.cell("mnli", "xnli").test.n == 6
    assert t.cell("mnli", "xnli").test.p_value == pytest.approx(p_mnli)
    assert t.cell("squad", "xnli").test.p_value == pytest.approx(p_squad)
    # Holm over two settings: the smaller p times 2, the larger times 1 (kept monotone).
    assert t.cell("mnli", "xnli").p_holm == pytest.approx(2 * p_mnli)
    assert t.cell("squad", "xnli").p_holm == pytest.approx(max(2 * p_mnli, p_squad))
    assert t.cell("mnli", "xnli").significant and not t.cell("squad", "xnli").significant
    # tatoeba mnli: all six differences are +2 -> exact sign test 2 / 2**6 = 0.03125. squad's p is tiny, so Holm
    # leaves mnli at 0.03125 (significant) where plain Bonferroni (x2 = 0.0625) would not.
    assert t.cell("mnli", "tatoeba").test.p_value == pytest.approx(0.03125)
    assert t.cell("mnli", "tatoeba").p_holm == pytest.approx(0.03125)
    assert t.cell("mnli", "tatoeba").significant
    assert t.cell("squad", "tatoeba").p_holm == pytest.approx(2 * hand_paired_t_p([10, 12, 8, 11, 9, 13]))
    assert t.cell("none", "xnli").test is None and not t.cell("none", "xnli").significant


def test_bootstrap_ci_brackets_the_gain(report):
    data, _ = report
    t = data.table(M1)
    assert t.cell("mnli", "tatoeba").ci == pytest.approx((2.0, 2.0))  # constant differences: no spread at all
    low, high = t.cell("squad", "tatoeba").ci
    assert 8 <= low < 10.5 < high <= 13  # inside the range of the six differences (8 .. 13)


def test_rank_correlations(report):
    data, _ = report
    got = {r.scope: (r.n, r.spearman, r.kendall) for r in data.correlations}
    # Gains (none, mnli, squad). xnli: M1 (0, 4.83, 0.17) ranks 1,3,2; M2 (0, -2, 2) ranks 2,1,3:
    # sum d^2 = 1 + 4 + 1 = 6, rho = 1 - 6*6/(3*8) = -0.5; pairs: 1 concordant, 2 discordant, tau = -1/3.
    assert got["xnli"] == pytest.approx((3, -0.5, -1 / 3))
    # tatoeba: M1 (0, 2, 10.5) ranks 1,2,3; M2 (0, 5, 2) ranks 1,3,2: rho = 1 - 6*2/24 = 0.5, tau = 1/3.
    assert got["tatoeba"] == pytest.approx((3, 0.5, 1 / 3))
    # overall (average gains): M1 (0, 3.42, 5.33), M2 (0, 1.5, 2.0): same order.
    assert got["overall"] == pytest.approx((3, 1.0, 1.0))


def test_transfer_gap_and_language_gains(report):
    data, _ = report
    d = next(d for d in data.details if d.model == M1 and d.target == "xnli")
    assert d.languages == ["en", "de", "sw"]
    assert d.transfer_gap("none") == pytest.approx((81.0, 66.0, 15.0))  # en 81; de 71, sw 61
    assert d.transfer_gap("mnli") == pytest.approx((84.5, 71.5, 13.0))
    assert d.gain("mnli", "sw") == pytest.approx(5.5)  # (65+68)/2 - (60+62)/2


def test_language_groups(report):
    data, _ = report
    fam = next(g for g in data.group_tables if g.model == M1 and g.kind == "family")
    germanic = "Indo-European (Germanic)"
    # mnli gains: xnli en 3.5, de 5.5; tatoeba en 2, de 2 -> 3.25 over 4 cells; sw: xnli 5.5, tatoeba 2 -> 3.75.
    assert fam.counts[germanic] == 4
    assert fam.gain("mnli", germanic) == pytest.approx(3.25)
    assert fam.gain("mnli", "Niger-Congo") == pytest.approx(3.75)
    size1 = next(g for g in data.group_tables if g.model == M1 and g.kind == "pretraining data")
    assert size1.members == {"CC-100 1-10 GiB": ["sw"], "CC-100 10-100 GiB": ["de"], "CC-100 >= 100 GiB": ["en"]}
    size2 = next(g for g in data.group_tables if g.model == M2 and g.kind == "pretraining data")
    assert size2.groups == ["unknown"]  # no per-language size source for mBERT here


def test_retrieval_layers(report):
    data, out = report
    assert data.retrieval_targets == ["tatoeba"]
    layers = {(d.model, s): d.layers[s] for d in data.details if d.target == "tatoeba" for s in d.settings}
    assert set(layers.values()) == {"8", "6"} and layers[(M1, "squad")] == "8" and layers[(M2, "none")] == "6"


def test_html_marks_best_significant_and_grey(report):
    _, out = report
    html = (out / "report.html").read_text()
    assert '<td class="best sig">75.8 (+4.8*)</td>' in html  # M1 xnli mnli
    assert '<td class="ns">71.2 (+0.2)</td>' in html  # M1 xnli squad: not significant, grey
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count('<img alt="') == html.count('src="data:image/png;base64,') == 5  # 4 heatmaps + 1 bar plot
    assert "smoke-scale" not in html  # no demo targets here
    md = (out / "report.md").read_text()
    assert "| mnli | **75.8 (+4.8*)** | 39.7 (+2.0*) | 57.8 (+3.4) |" in md


def test_headline_table(report):
    data, _ = report
    table = headline_table(data)
    assert table.columns == ["Model", "Setting", "xnli", "tatoeba", "Average"]
    assert table.rows[1] == [M1, "mnli", "75.8 (+4.8*)", "39.7 (+2.0*)", "57.8 (+3.4)"]
    assert table.rows[2][2] == "71.2 (+0.2)" and table.best[2] == [False, False, False, True, True]


def test_deterministic_bytes(tmp_path):
    build_report([FIXTURE], tmp_path / "a")
    # The second build runs in a fresh interpreter with another hash seed: set iteration order must not leak out.
    code = "import sys; from xstilts.analysis.report import build_report; build_report([sys.argv[1]], sys.argv[2])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(FIXTURE), str(tmp_path / "b")], check=True, env=env)
    for f in ("report.html", "report.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def _write_rows(path: Path, keep) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with (FIXTURE / "results.csv").open() as src, (path / "results.csv").open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            row = keep(row)
            if row:
                writer.writerow(row)
    return path


def test_dev_split_when_test_incomplete(tmp_path):
    run = _write_rows(
        tmp_path / "run",
        lambda r: None if (r["split"], r["intermediate"], r["target"]) == ("test", "squad", "tatoeba") else r,
    )
    data = build_report([run], tmp_path / "out")
    assert data.split == "dev" and "not every run has test scores" in data.split_note
    # dev values are 100 - test: M1 xnli none = 100 - 71.
    assert data.table(M1).cell("none", "xnli").mean == pytest.approx(29.0)


def test_demo_banner(tmp_path):
    run = _write_rows(tmp_path / "run", lambda r: {**r, "target": "demo_" + r["target"]})
    data = build_report([run], tmp_path / "out")
    assert data.demo_targets == ["demo_xnli", "demo_tatoeba"]
    assert "NOT XTREME results" in (tmp_path / "out" / "report.html").read_text()
    assert "smoke-scale" in (tmp_path / "out" / "report.md").read_text()


def test_compare_two_dirs_and_cli(tmp_path, capsys):
    m1 = _write_rows(tmp_path / "m1", lambda r: r if r["model"] == M1 else None)
    m2 = _write_rows(tmp_path / "m2", lambda r: r if r["model"] == M2 else None)
    html = run_report_cli([str(m1), str(m2), str(m2)], str(tmp_path / "cmp"), "none")  # a dir twice counts once
    assert html == tmp_path / "cmp" / "report.html" and html.is_file()
    printed = capsys.readouterr().out
    assert "75.8 (+4.8*)" in printed and "Average" in printed


def test_input_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.csv").write_text("model,target\nx,y\n")
    with pytest.raises(UserError, match=r"results.csv:1: missing column"):
        build_report([bad], tmp_path / "o")
    nonnum = _write_rows(tmp_path / "nonnum", lambda r: {**r, "value": "n/a"} if r["language"] == "sw" else r)
    # Line 1 is the header, en rows are lines 2-5, de 6-9: the first sw row is line 10.
    with pytest.raises(UserError, match=r"results.csv:10: value 'n/a' is not a number"):
        build_report([nonnum], tmp_path / "o")
    with_avg = _write_rows(tmp_path / "avg", lambda r: {**r, "language": "avg"} if r["language"] == "de" else r)
    with pytest.raises(UserError, match=r"results.csv:6: language 'avg'"):
        build_report([with_avg], tmp_path / "o")
    with pytest.raises(UserError, match="baseline 'base'"):
        build_report([FIXTURE], tmp_path / "o", baseline="base")
    with pytest.raises(UserError, match="no results.csv"):
        build_report([tmp_path / "missing"], tmp_path / "o")
    changed = _write_rows(tmp_path / "changed", lambda r: {**r, "value": str(float(r["value"]) + 1)})
    with pytest.raises(UserError, match="one measurement, two values"):
        build_report([FIXTURE, changed], tmp_path / "o")


def test_missing_baseline_for_a_target_is_a_warning(tmp_path):
    run = _write_rows(
        tmp_path / "run", lambda r: None if (r["intermediate"], r["target"]) == ("none", "tatoeba") else r
    )
    data = build_report([run], tmp_path / "out")
    assert math.isnan(data.table(M1).cell("mnli", "tatoeba").delta)
    assert any("tatoeba: no 'none' baseline" in w for w in data.warnings)
    assert data.table(M1).cell("none", AVERAGE) is None  # the baseline lacks a target: no average for it


def test_stats_units():
    # Holm by hand: sorted 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, max(0.06, 1*0.04) = 0.06.
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(stats.holm([math.nan, 0.2])[0]) and stats.holm([math.nan, 0.2])[1] == pytest.approx(0.2)
    assert stats.paired_test([1, 2, 3], [1, 2, 3]).p_value == 1.0
    big = stats.paired_test([float(i) for i in range(12)], [i - 1.0 + (i % 3) * 0.5 for i in range(12)])
    assert big.name == "Wilcoxon signed-rank" and big.n == 12
    assert stats.bootstrap_ci([1.0, 5.0, 3.0]) == stats.bootstrap_ci([1.0, 5.0, 3.0])  # fixed seed
    assert math.isnan(stats.rank_correlation([1, 2], [2, 1])[0])  # two points: undefined


def test_colour_scale_centred_at_zero():
    def rgb(h: str) -> tuple[int, ...]:
        return tuple(int(h[i : i + 2], 16) for i in (1, 3, 5))

    r, g, b = rgb(diverging_colour(0.0, 5.0))
    assert min(r, g, b) > 230  # white-ish at zero
    pos, neg = rgb(diverging_colour(4.0, 5.0)), rgb(diverging_colour(-4.0, 5.0))
    assert pos[2] > pos[0] and neg[0] > neg[2]  # gains blue, losses red
