"""From result rows to the numbers of the report: per-model paper tables, per-language gains, comparisons, groups."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from xstilts.analysis import stats
from xstilts.analysis.pretraining import bucket_order, pretraining_bucket
from xstilts.analysis.results import HEADLINE_METRIC, ResultRow
from xstilts.errors import UserError
from xstilts.languages import XTREME_GROUP2TASK, XTREME_TASK2LANGS, language_family, language_script

XTREME_TASKS = tuple(XTREME_TASK2LANGS)

AVERAGE = "avg"
DEMO_PREFIX = "demo_"
GROUP_KINDS = ("family", "script", "pretraining data")
Key = tuple[str, str]  # (language, seed)


@dataclass
class Cell:
    """One (model, setting, target): target score over seeds, gain over the baseline, and its uncertainty."""

    mean: float
    std: float
    n_seeds: int
    delta: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    test: stats.PairedTest | None = None
    p_holm: float = math.nan
    best: bool = False

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_holm) and self.p_holm < stats.ALPHA


@dataclass
class ModelTable:
    """The paper-style table of one model: rows are settings, columns are targets plus the average over targets."""

    model: str
    settings: list[str]
    targets: list[str]
    cells: dict[tuple[str, str], Cell]  # (setting, target or AVERAGE)
    expected_targets: int | None = None  # how many targets the grid asked for (None: unknown, no grid.json)

    @property
    def average_label(self) -> str:
        """The average column's name: it says when it covers fewer targets than the grid asked for, and names the
        XTREME all-task score when the targets are exactly XTREME's nine."""
        if self.expected_targets is not None and len(self.targets) < self.expected_targets:
            return f"Average ({len(self.targets)}/{self.expected_targets} targets)"
        if set(self.targets) == set(XTREME_TASKS):
            return "Average (XTREME all-task)"
        return "Average"


@dataclass
class TargetDetail:
    """Per-language view of one (model, target): mean scores and gains per setting, transfer gap, layers."""

    model: str
    target: str
    languages: list[str]
    settings: list[str]
    scores: dict[tuple[str, str], float]  # (setting, language) -> mean over seeds
    gains: dict[tuple[str, str], float]  # (setting, language) -> score - baseline score
    layers: dict[str, str]  # setting -> retrieval layer(s) used, "" when none recorded

    def transfer_gap(self, setting: str) -> tuple[float, float, float]:
        """(English score, mean non-English score, gap = English - non-English), nan where a side is missing."""
        en = self.scores.get((setting, "en"), math.nan)
        others = [
            self.scores[(setting, lang)] for lang in self.languages if lang != "en" and (setting, lang) in self.scores
        ]
        rest = float(np.mean(others)) if others else math.nan
        return en, rest, en - rest


@dataclass(frozen=True)
class RankCorrelation:
    """Agreement of two models on the ranking of settings (by mean gain) for one target or overall."""

    model_a: str
    model_b: str
    scope: str
    n: int
    spearman: float
    kendall: float


@dataclass
class GroupTable:
    """Mean gain per setting over the (target, language) cells of each language group, for one model."""

    model: str
    kind: str
    groups: list[str]
    counts: dict[str, int]  # group -> number of (target, language) cells
    members: dict[str, list[str]]  # group -> languages
    gains: dict[tuple[str, str], float]  # (setting, group)


@dataclass
class ReportData:
    """Everything the report shows, computed from the results table alone."""

    baseline: str
    split: str
    split_note: str
    sources: list[str]
    models: list[str]
    tables: list[ModelTable]
    details: list[TargetDetail]
    correlations: list[RankCorrelation]
    group_tables: list[GroupTable]
    demo_targets: list[str]
    retrieval_targets: list[str]
    warnings: list[str] = field(default_factory=list)

    def table(self, model: str) -> ModelTable:
        return next(t for t in self.tables if t.model == model)


def _ordered(values) -> list[str]:
    """Distinct values in order of first appearance (the order the experiment spec ran them)."""
    return list(dict.fromkeys(values))


def _seed_order(seed: str) -> tuple[int, float, str]:
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def _languages(langs) -> list[str]:
    """English first (the source language), then alphabetical."""
    return sorted(set(langs), key=lambda lang: (lang != "en", lang))


class _Scores:
    """Headline scores of one split, indexed by (model, setting, target) -> {(language, seed): value}."""

    def __init__(self, rows: list[ResultRow], split: str):
        self.by_run: dict[tuple[str, str, str], dict[Key, float]] = defaultdict(dict)
        for r in rows:
            if r.split == split and r.metric == HEADLINE_METRIC:
                self.by_run[(r.model, r.intermediate, r.target)][(r.language, r.seed)] = r.value

    def seed_scores(self, run: tuple[str, str, str]) -> list[float]:
        """Target score per seed: the unweighted mean over that seed's languages (English included, like XTREME)."""
        per_seed: dict[str, list[float]] = defaultdict(list)
        for (_, seed), value in self.by_run[run].items():
            per_seed[seed].append(value)
        return [float(np.mean(per_seed[s])) for s in sorted(per_seed, key=_seed_order)]

    def language_means(self, run: tuple[str, str, str]) -> dict[str, float]:
        per_lang: dict[str, list[float]] = defaultdict(list)
        for (lang, _), value in self.by_run[run].items():
            per_lang[lang].append(value)
        return {lang: float(np.mean(v)) for lang, v in per_lang.items()}


def _model_table(model: str, settings: list[str], targets: list[str], scores: _Scores, baseline: str) -> ModelTable:
    cells: dict[tuple[str, str], Cell] = {}
    for target in targets:
        base = scores.by_run.get((model, baseline, target))
        present = [s for s in settings if (model, s, target) in scores.by_run]
        for setting in present:
            per_seed = scores.seed_scores((model, setting, target))
            mean, std = stats.mean_std(per_seed)
            cell = Cell(mean=mean, std=std, n_seeds=len(per_seed))
            if base is not None:
                cell.delta = mean - cells[(baseline, target)].mean if setting != baseline else 0.0
                if setting != baseline:
                    own = scores.by_run[(model, setting, target)]
                    pairs = sorted(set(own) & set(base))
                    diffs = [own[k] - base[k] for k in pairs]
                    cell.ci = stats.bootstrap_ci(diffs)
                    cell.test = stats.paired_test([own[k] for k in pairs], [base[k] for k in pairs])
            cells[(setting, target)] = cell
        tested = [s for s in present if cells[(s, target)].test is not None]
        for setting, p in zip(tested, stats.holm([cells[(s, target)].test.p_value for s in tested]), strict=False):
            cells[(setting, target)].p_holm = p
    for setting in settings:
        # The average over targets is only comparable when the setting has every target.
        if all((setting, t) in cells for t in targets):
            mean = float(np.mean([cells[(setting, t)].mean for t in targets]))
            cells[(setting, AVERAGE)] = Cell(mean=mean, std=math.nan, n_seeds=0)
    if (baseline, AVERAGE) in cells:
        for setting in settings:
            if (setting, AVERAGE) in cells:
                cells[(setting, AVERAGE)].delta = cells[(setting, AVERAGE)].mean - cells[(baseline, AVERAGE)].mean
    for column in [*targets, AVERAGE]:
        column_cells = [c for (s, t), c in cells.items() if t == column and not math.isnan(c.mean)]
        if column_cells:
            top = max(c.mean for c in column_cells)
            for c in column_cells:
                c.best = c.mean >= top - 1e-9  # ties are all marked
    return ModelTable(model=model, settings=settings, targets=targets, cells=cells)


def _target_detail(
    model: str, target: str, settings: list[str], scores: _Scores, rows: list[ResultRow], baseline: str, split: str
) -> TargetDetail:
    present = [s for s in settings if (model, s, target) in scores.by_run]
    means = {s: scores.language_means((model, s, target)) for s in present}
    base = means.get(baseline, {})
    languages = _languages(lang for m in means.values() for lang in m)
    layers: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r.model == model and r.target == target and r.split == split and r.layer:
            layers[r.intermediate].add(r.layer)
    return TargetDetail(
        model=model,
        target=target,
        languages=languages,
        settings=present,
        scores={(s, lang): v for s, m in means.items() for lang, v in m.items()},
        gains={(s, lang): v - base[lang] for s, m in means.items() for lang, v in m.items() if lang in base},
        layers={s: ", ".join(sorted(layers[s], key=_seed_order)) for s in present},
    )


def _delta(table: ModelTable, setting: str, column: str) -> float:
    cell = table.cells.get((setting, column))
    return math.nan if cell is None else cell.delta


def _correlations(tables: list[ModelTable]) -> list[RankCorrelation]:
    out = []
    for a, b in itertools.combinations(tables, 2):
        common_targets = [t for t in a.targets if t in b.targets]
        for scope in [*common_targets, AVERAGE]:
            settings = [s for s in a.settings if not math.isnan(_delta(a, s, scope) + _delta(b, s, scope))]
            x = [a.cells[(s, scope)].delta for s in settings]
            y = [b.cells[(s, scope)].delta for s in settings]
            rho, tau = stats.rank_correlation(x, y)
            out.append(
                RankCorrelation(a.model, b.model, "overall" if scope == AVERAGE else scope, len(settings), rho, tau)
            )
    return out


def language_group(kind: str, model: str, lang: str) -> str:
    if kind == "family":
        return language_family(lang)
    if kind == "script":
        return language_script(lang)
    return pretraining_bucket(model, lang)


def _group_tables(model: str, settings: list[str], details: list[TargetDetail], baseline: str) -> list[GroupTable]:
    out = []
    mine = [d for d in details if d.model == model]
    for kind in GROUP_KINDS:
        members: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        collected: dict[tuple[str, str], list[float]] = defaultdict(list)
        for d in mine:
            for lang in d.languages:
                group = language_group(kind, model, lang)
                members[group].add(lang)
                counts[group] += 1
                for s in settings:
                    if s != baseline and (s, lang) in d.gains:
                        collected[(s, group)].append(d.gains[(s, lang)])
        order = bucket_order() if kind == "pretraining data" else sorted(members)
        groups = [g for g in order if g in members]
        out.append(
            GroupTable(
                model=model,
                kind=kind,
                groups=groups,
                counts=dict(counts),
                members={g: _languages(members[g]) for g in groups},
                gains={k: float(np.mean(v)) for k, v in collected.items()},
            )
        )
    return out


def _coverage_warnings(
    model: str, targets: list[str], settings: list[str], scores: _Scores, baseline: str
) -> list[str]:
    notes = []
    for target in targets:
        runs = {s: scores.by_run[(model, s, target)] for s in settings if (model, s, target) in scores.by_run}
        if baseline not in runs:
            notes.append(f"{model} / {target}: no '{baseline}' baseline rows, so no gains for this target.")
            continue
        for s, values in runs.items():
            if set(values) != set(runs[baseline]):
                notes.append(
                    f"{model} / {target} / {s}: its (language, seed) pairs differ from the baseline's "
                    f"({len(values)} vs {len(runs[baseline])}); tests use the {len(set(values) & set(runs[baseline]))} "
                    "shared pairs and the means are over what each has."
                )
    return notes


def is_retrieval(target: str, rows: list[ResultRow]) -> bool:
    """Retrieval targets: the `group` column says so, or an XTREME retrieval task, or rows record a layer."""
    return target in XTREME_GROUP2TASK["retrieval"] or any(
        r.target == target and (r.group == "retrieval" or r.layer) for r in rows
    )


def summarize(
    rows: list[ResultRow],
    split: str,
    split_note: str,
    baseline: str,
    sources: list[str],
    grid: dict[str, list[str]] | None = None,
) -> ReportData:
    """Compute every number of the report from the rows of one split. `grid` (from the runs' grid.json: the targets the
    grid asked for, per model) makes partial coverage explicit: an average over fewer targets says so."""
    scores = _Scores(rows, split)
    runs = list(scores.by_run)
    all_settings = _ordered(s for _, s, _ in runs)
    if baseline not in all_settings:
        raise UserError(
            f"baseline '{baseline}' has no '{HEADLINE_METRIC}' rows on split '{split}'; "
            f"settings present: {all_settings}"
        )
    models = _ordered(m for m, _, _ in runs)
    tables, details, groups, warnings = [], [], [], []
    for model in models:
        mine = [r for r in runs if r[0] == model]
        settings = _ordered(s for _, s, _ in mine)
        if baseline in settings:  # the baseline heads every table
            settings = [baseline, *(s for s in settings if s != baseline)]
        targets = _ordered(t for _, _, t in mine)
        table = _model_table(model, settings, targets, scores, baseline)
        if grid is not None and model in grid:
            table.expected_targets = len(grid[model])
            missing = [t for t in grid[model] if t not in targets]
            if missing:
                warnings.append(
                    f"{model}: {len(targets)}/{len(grid[model])} targets have results on split '{split}' "
                    f"(missing: {', '.join(missing)}); its average covers only those."
                )
        tables.append(table)
        model_details = [_target_detail(model, t, settings, scores, rows, baseline, split) for t in targets]
        details.extend(model_details)
        groups.extend(_group_tables(model, settings, model_details, baseline))
        warnings.extend(_coverage_warnings(model, targets, settings, scores, baseline))
    targets_all = _ordered(t for _, _, t in runs)
    gold_only = sorted({r.target for r in rows if "gold_only" in r.options.split(";")})
    if gold_only:
        warnings.append(
            f"{', '.join(gold_only)}: mined among the gold pairs only (a source without the distractors): "
            "gold-only numbers, not comparable with BUCC."
        )
    return ReportData(
        baseline=baseline,
        split=split,
        split_note=split_note,
        sources=sources,
        models=models,
        tables=tables,
        details=details,
        correlations=_correlations(tables),
        group_tables=groups,
        demo_targets=[t for t in targets_all if t.startswith(DEMO_PREFIX)],
        retrieval_targets=[t for t in targets_all if is_retrieval(t, rows)],
        warnings=warnings,
    )
