"""From result rows to the numbers of the report: per-model paper tables, per-language gains, comparisons, groups."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xstilts.analysis import stats
from xstilts.analysis.pretraining import bucket_order, pretraining_bucket
from xstilts.analysis.results import HEADLINE_METRIC, ResultRow
from xstilts.benchmarks import all_benchmarks
from xstilts.errors import UserError
from xstilts.languages import XTREME_GROUP2TASK, XTREME_TASK2LANGS, language_family, language_script

XTREME_TASKS = tuple(XTREME_TASK2LANGS)


def source_label(model: str, source: str) -> str:
    """How tables name a model's runs: the model, and the source language of its target phases when the results hold
    another one than English (`source` is then set on every table)."""
    return f"{model} (source {source})" if source else model


def benchmark_of(targets: Sequence[str]) -> str | None:
    """The display name of the benchmark whose tasks are exactly `targets` (None when no benchmark's are)."""
    return next((b.label for b in all_benchmarks().values() if set(targets) == set(b.tasks)), None)


AVERAGE = "avg"
ENGLISH = "en"  # the source language of the target phase when results.csv names none (xstilts.results)
DEMO_PREFIX = "demo_"
GROUP_KINDS = ("family", "script", "pretraining data")
Key = tuple[str, str]  # (language, seed)


@dataclass(frozen=True)
class Cell:
    """One (model, setting, column): target score over seeds, gain over the baseline, and its uncertainty. Built
    complete by `_column`: nan (or None) where a number does not apply, e.g. no baseline to compare with."""

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


@dataclass(frozen=True)
class ModelTable:
    """The paper-style table of one model: rows are settings, columns are targets plus the average over targets."""

    model: str
    settings: list[str]
    targets: list[str]
    rows: dict[str, dict[str, Cell]]  # setting -> column (a target or AVERAGE) -> Cell; no entry where no result
    expected_targets: int | None = None  # how many targets the grid asked for (None: unknown, no grid.json)
    source: str = ""  # the source language of the target phases ("": the results hold English sources only)

    @property
    def label(self) -> str:
        return source_label(self.model, self.source)

    @property
    def columns(self) -> list[str]:
        return [*self.targets, AVERAGE]

    def cell(self, setting: str, column: str) -> Cell | None:
        """The cell of a setting in a column (a target or AVERAGE); None where the setting has no result there."""
        return self.rows.get(setting, {}).get(column)

    def delta(self, setting: str, column: str) -> float:
        """The gain over the baseline in a column; nan where there is no cell or no baseline to compare with."""
        c = self.cell(setting, column)
        return math.nan if c is None else c.delta

    @property
    def average_label(self) -> str:
        """The average column's name: it says when it covers fewer targets than the grid asked for, and names the
        benchmark's all-task score when the targets are exactly a benchmark's tasks (its file in tasks/benchmarks/)."""
        if self.expected_targets is not None and len(self.targets) < self.expected_targets:
            return f"Average ({len(self.targets)}/{self.expected_targets} targets)"
        bench = benchmark_of(self.targets)
        if bench is not None:
            return f"Average ({bench} all-task)"
        return "Average"


@dataclass(frozen=True)
class TargetDetail:
    """Per-language view of one (model, target): mean scores and gains per setting, transfer gap, layers."""

    model: str
    target: str
    languages: list[str]
    settings: list[str]
    scores: dict[str, dict[str, float]]  # setting -> language -> mean over seeds
    gains: dict[str, dict[str, float]]  # setting -> language -> score - baseline score (languages the baseline has)
    layers: dict[str, str]  # setting -> retrieval layer(s) used, "" when none recorded
    source: str = ""  # as ModelTable.source

    @property
    def label(self) -> str:
        return source_label(self.model, self.source)

    def gain(self, setting: str, language: str) -> float:
        """The setting's gain over the baseline in one language; nan where either side is missing."""
        return self.gains.get(setting, {}).get(language, math.nan)

    def language_gains(self, setting: str) -> list[float]:
        """The setting's gains in the languages that have one, in the order of `languages`."""
        mine = self.gains.get(setting, {})
        return [mine[lang] for lang in self.languages if lang in mine]

    def transfer_gap(self, setting: str) -> tuple[float, float, float]:
        """(English score, mean non-English score, gap = English - non-English), nan where a side is missing."""
        mine = self.scores.get(setting, {})
        en = mine.get("en", math.nan)
        others = [mine[lang] for lang in self.languages if lang != "en" and lang in mine]
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


@dataclass(frozen=True)
class GroupTable:
    """Mean gain per setting over the (target, language) cells of each language group, for one model."""

    model: str
    kind: str
    groups: list[str]
    counts: dict[str, int]  # group -> number of (target, language) cells
    members: dict[str, list[str]]  # group -> languages
    gains: dict[str, dict[str, float]]  # setting -> group -> mean gain (groups where the setting has gains)
    source: str = ""  # as ModelTable.source

    @property
    def label(self) -> str:
        return source_label(self.model, self.source)

    def gain(self, setting: str, group: str) -> float:
        """The setting's mean gain over a group's cells; nan where it has none there."""
        return self.gains.get(setting, {}).get(group, math.nan)


@dataclass(frozen=True)
class SourceComparison:
    """One (model, target) trained from several source languages: per setting, the target score (the unweighted mean
    over its languages, mean over seeds) of each source language, and the gain over the English source."""

    model: str
    target: str
    sources: list[str]
    settings: list[str]
    means: dict[str, dict[str, float]]  # setting -> source language -> target score

    def mean(self, setting: str, source: str) -> float:
        return self.means.get(setting, {}).get(source, math.nan)

    def gain(self, setting: str, source: str) -> float:
        """The source's score minus the English source's for the same setting; nan where either is missing."""
        return self.mean(setting, source) - self.mean(setting, ENGLISH)


@dataclass(frozen=True)
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
    scaling: dict[str, Any] | None = None  # analysis/scaling.py, when the runs generated mixtures
    # the source languages of the target phases in the rows ([en] for X-STILTs as it was); with another one, every
    # table is per (model, source language) and `source_comparisons` compares them per (model, target)
    source_languages: list[str] = field(default_factory=lambda: [ENGLISH])
    source_comparisons: list[SourceComparison] = field(default_factory=list)
    alignment: list[dict[str, Any]] | None = None  # analysis/alignment.py, when the runs have alignment phases

    def table(self, model: str, source: str = "") -> ModelTable:
        return next(t for t in self.tables if t.model == model and t.source == source)

    @property
    def shows_sources(self) -> bool:
        """Whether the tables name source languages (the rows hold another one than English)."""
        return self.source_languages != [ENGLISH]


# Row labels (results.csv `options`) that say a number is not the benchmark's, and what the report says of them.
PROTOCOL_LABELS: dict[str, str] = {
    "gold_only": "mined among the gold pairs only (a source without the distractors): gold-only numbers, not "
    "comparable with BUCC.",
    "hub-udpos": "UD-POS read from the hub's google/xtreme udpos configs (other treebanks, syntactic words, no "
    "ZWNJ/space removal): hub-udpos numbers, not XTREME's UD-POS.",
    "not-zero-shot": "trained on TyDiQA-GoldP's training data in every language (jiant's tydiqa_en): not zero-shot, "
    "not comparable with XTREME's English-only TyDiQA.",
}


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
    """Headline scores of one split: each (model, setting, target) run's {(language, seed): value}, and the order in
    which the rows first name each model, setting and target (the order the experiment spec ran them)."""

    def __init__(self, rows: list[ResultRow], split: str):
        headline = [r for r in rows if r.split == split and r.metric == HEADLINE_METRIC]
        self._runs: dict[str, dict[str, dict[str, dict[Key, float]]]] = {}  # model -> setting -> target -> values
        self._targets: dict[str, dict[str, None]] = {}  # model -> its targets, an ordered set
        for r in headline:
            by_target = self._runs.setdefault(r.model, {}).setdefault(r.intermediate, {})
            by_target.setdefault(r.target, {})[(r.language, r.seed)] = r.value
            self._targets.setdefault(r.model, {})[r.target] = None
        self.models = list(self._runs)
        self.settings = _ordered(r.intermediate for r in headline)
        self.targets = _ordered(r.target for r in headline)

    def settings_of(self, model: str) -> list[str]:
        return list(self._runs[model])

    def targets_of(self, model: str) -> list[str]:
        return list(self._targets[model])

    def run(self, model: str, setting: str, target: str) -> dict[Key, float] | None:
        """The run's {(language, seed): value}; None when the split has no scores for it."""
        return self._runs[model].get(setting, {}).get(target)


def _seed_scores(run: dict[Key, float]) -> list[float]:
    """Target score per seed: the unweighted mean over that seed's languages (English included, like XTREME)."""
    per_seed: dict[str, list[float]] = defaultdict(list)
    for (_, seed), value in run.items():
        per_seed[seed].append(value)
    return [float(np.mean(per_seed[s])) for s in sorted(per_seed, key=_seed_order)]


def _language_means(run: dict[Key, float]) -> dict[str, float]:
    per_lang: dict[str, list[float]] = defaultdict(list)
    for (lang, _), value in run.items():
        per_lang[lang].append(value)
    return {lang: float(np.mean(v)) for lang, v in per_lang.items()}


def _column(
    summary: dict[str, tuple[float, float, int]],
    deltas: dict[str, float],
    compared: dict[str, tuple[tuple[float, float], stats.PairedTest]],
) -> dict[str, Cell]:
    """The complete cells of one column, setting -> Cell, from each setting's (mean, std, seeds), its gain over the
    baseline and its (bootstrap CI, paired test) where tested. The Holm correction runs across the column's tests and
    `best` marks the column's top mean (ties all marked) before any cell is made."""
    p_holm = dict(zip(compared, stats.holm([test.p_value for _, test in compared.values()]), strict=True))
    top = max((mean for mean, _, _ in summary.values() if not math.isnan(mean)), default=math.nan)
    return {
        s: Cell(
            mean=mean,
            std=std,
            n_seeds=n_seeds,
            delta=deltas.get(s, math.nan),
            ci=compared[s][0] if s in compared else (math.nan, math.nan),
            test=compared[s][1] if s in compared else None,
            p_holm=p_holm.get(s, math.nan),
            best=not math.isnan(mean) and mean >= top - 1e-9,
        )
        for s, (mean, std, n_seeds) in summary.items()
    }


def _target_column(model: str, target: str, settings: list[str], scores: _Scores, baseline: str) -> dict[str, Cell]:
    """One target's cells: score over seeds; with a baseline run, the gain, its CI and the paired test over the
    (language, seed) pairs both runs have."""
    runs = {s: run for s in settings if (run := scores.run(model, s, target)) is not None}
    summary: dict[str, tuple[float, float, int]] = {}
    for s, run in runs.items():
        per_seed = _seed_scores(run)
        mean, std = stats.mean_std(per_seed)
        summary[s] = (mean, std, len(per_seed))
    base = runs.get(baseline)
    deltas: dict[str, float] = {}
    compared: dict[str, tuple[tuple[float, float], stats.PairedTest]] = {}
    if base is not None:
        for s, own in runs.items():
            if s == baseline:
                deltas[s] = 0.0
                continue
            deltas[s] = summary[s][0] - summary[baseline][0]
            pairs = sorted(set(own) & set(base))
            ci = stats.bootstrap_ci([own[k] - base[k] for k in pairs])
            compared[s] = (ci, stats.paired_test([own[k] for k in pairs], [base[k] for k in pairs]))
    return _column(summary, deltas, compared)


def _average_column(
    settings: list[str], targets: list[str], columns: dict[str, dict[str, Cell]], baseline: str
) -> dict[str, Cell]:
    """The average over targets: only comparable when the setting has every target; not tested."""
    summary = {
        s: (float(np.mean([columns[t][s].mean for t in targets])), math.nan, 0)
        for s in settings
        if all(s in columns[t] for t in targets)
    }
    deltas = {s: mean - summary[baseline][0] for s, (mean, _, _) in summary.items()} if baseline in summary else {}
    return _column(summary, deltas, {})


def _model_table(
    model: str,
    settings: list[str],
    targets: list[str],
    scores: _Scores,
    baseline: str,
    expected: int | None,
    source: str = "",
) -> ModelTable:
    columns = {t: _target_column(model, t, settings, scores, baseline) for t in targets}
    columns[AVERAGE] = _average_column(settings, targets, columns, baseline)
    rows = {s: {column: cells[s] for column, cells in columns.items() if s in cells} for s in settings}
    return ModelTable(
        model=model, settings=settings, targets=targets, rows=rows, expected_targets=expected, source=source
    )


def _target_detail(
    model: str,
    target: str,
    settings: list[str],
    scores: _Scores,
    rows: list[ResultRow],
    baseline: str,
    split: str,
    source: str = "",
) -> TargetDetail:
    means = {s: _language_means(run) for s in settings if (run := scores.run(model, s, target)) is not None}
    present = list(means)
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
        scores=means,
        gains={s: {lang: v - base[lang] for lang, v in m.items() if lang in base} for s, m in means.items()},
        layers={s: ", ".join(sorted(layers[s], key=_seed_order)) for s in present},
        source=source,
    )


def _correlations(tables: list[ModelTable]) -> list[RankCorrelation]:
    out = []
    for a, b in itertools.combinations(tables, 2):
        common_targets = [t for t in a.targets if t in b.targets]
        for scope in [*common_targets, AVERAGE]:
            settings = [s for s in a.settings if not math.isnan(a.delta(s, scope) + b.delta(s, scope))]
            x = [a.delta(s, scope) for s in settings]
            y = [b.delta(s, scope) for s in settings]
            rho, tau = stats.rank_correlation(x, y)
            out.append(
                RankCorrelation(a.label, b.label, "overall" if scope == AVERAGE else scope, len(settings), rho, tau)
            )
    return out


def language_group(kind: str, model: str, lang: str) -> str:
    if kind == "family":
        return language_family(lang)
    if kind == "script":
        return language_script(lang)
    return pretraining_bucket(model, lang)


def _group_tables(
    model: str, settings: list[str], details: list[TargetDetail], baseline: str, source: str = ""
) -> list[GroupTable]:
    out = []
    mine = [d for d in details if d.model == model and d.source == source]
    for kind in GROUP_KINDS:
        members: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        collected: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))  # setting -> group
        for d in mine:
            for lang in d.languages:
                group = language_group(kind, model, lang)
                members[group].add(lang)
                counts[group] += 1
                for s in settings:
                    gain = d.gains.get(s, {}).get(lang)
                    if s != baseline and gain is not None:
                        collected[s][group].append(gain)
        order = bucket_order() if kind == "pretraining data" else sorted(members)
        groups = [g for g in order if g in members]
        out.append(
            GroupTable(
                model=model,
                kind=kind,
                groups=groups,
                counts=dict(counts),
                members={g: _languages(members[g]) for g in groups},
                gains={s: {g: float(np.mean(v)) for g, v in per_group.items()} for s, per_group in collected.items()},
                source=source,
            )
        )
    return out


def _coverage_warnings(
    model: str, targets: list[str], settings: list[str], scores: _Scores, baseline: str, label: str = ""
) -> list[str]:
    notes = []
    label = label or model
    for target in targets:
        runs = {s: run for s in settings if (run := scores.run(model, s, target)) is not None}
        if baseline not in runs:
            notes.append(f"{label} / {target}: no '{baseline}' baseline rows, so no gains for this target.")
            continue
        for s, values in runs.items():
            if set(values) != set(runs[baseline]):
                notes.append(
                    f"{label} / {target} / {s}: its (language, seed) pairs differ from the baseline's "
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
    grid_sources: dict[str, list[str]] | None = None,
) -> ReportData:
    """Compute every number of the report from the rows of one split. `grid` (from the runs' grid.json: the targets the
    grid asked for, per model) makes partial coverage explicit: an average over fewer targets says so; `grid_sources`
    (target -> the source languages it asked for) narrows that to the targets asked for in each source language."""
    scores = _Scores(rows, split)
    if baseline not in scores.settings:
        raise UserError(
            f"baseline '{baseline}' has no '{HEADLINE_METRIC}' rows on split '{split}'; "
            f"settings present: {scores.settings}"
        )
    # The source language of the target phases (results.csv source_language): one table per (model, source) when the
    # rows hold another one than English, each against the baseline of its own source language.
    languages = _languages(r.source_language for r in rows if r.split == split and r.metric == HEADLINE_METRIC)
    shown = languages != [ENGLISH]
    by_source = {src: _Scores([r for r in rows if r.source_language == src], split) for src in languages}
    tables, details, groups, warnings = [], [], [], []
    for model in scores.models:
        for src in languages:
            if model not in by_source[src].models:
                continue
            sub, tag = by_source[src], src if shown else ""
            settings = sub.settings_of(model)
            if baseline in settings:  # the baseline heads every table
                settings = [baseline, *(s for s in settings if s != baseline)]
            targets = sub.targets_of(model)
            asked = grid.get(model) if grid is not None else None  # the targets the grid asked for
            if asked is not None and grid_sources is not None:  # ... in this source language
                asked = [t for t in asked if src in grid_sources.get(t, [ENGLISH])]
            expected = None if asked is None else len(asked)
            tables.append(_model_table(model, settings, targets, sub, baseline, expected, tag))
            if asked is not None:
                missing = [t for t in asked if t not in targets]
                if missing:
                    warnings.append(
                        f"{source_label(model, tag)}: {len(targets)}/{len(asked)} targets have results on split '{split}' "
                        f"(missing: {', '.join(missing)}); its average covers only those."
                    )
            model_details = [_target_detail(model, t, settings, sub, rows, baseline, split, tag) for t in targets]
            details.extend(model_details)
            groups.extend(_group_tables(model, settings, model_details, baseline, tag))
            warnings.extend(_coverage_warnings(model, targets, settings, sub, baseline, source_label(model, tag)))
    targets_all = scores.targets
    for label, note in PROTOCOL_LABELS.items():
        labelled = sorted({r.target for r in rows if label in r.options.split(";")})
        if labelled:
            warnings.append(f"{', '.join(labelled)}: {note}")
    return ReportData(
        baseline=baseline,
        split=split,
        split_note=split_note,
        sources=sources,
        models=scores.models,
        tables=tables,
        details=details,
        correlations=_correlations(tables),
        group_tables=groups,
        demo_targets=[t for t in targets_all if t.startswith(DEMO_PREFIX)],
        retrieval_targets=[t for t in targets_all if is_retrieval(t, rows)],
        warnings=warnings,
        source_languages=languages,
        source_comparisons=_source_comparisons(tables) if shown else [],
    )


def _source_comparisons(tables: list[ModelTable]) -> list[SourceComparison]:
    """Per (model, target) with more than one source language: each setting's target score per source language."""
    out = []
    for model in _ordered(t.model for t in tables):
        mine = [t for t in tables if t.model == model]
        for target in _ordered(target for t in mine for target in t.targets):
            having = [t for t in mine if target in t.targets]
            if len(having) < 2:
                continue
            settings = _ordered(s for t in having for s in t.settings if t.cell(s, target) is not None)
            means = {s: {t.source: c.mean for t in having if (c := t.cell(s, target)) is not None} for s in settings}
            out.append(SourceComparison(model, target, [t.source for t in having], settings, means))
    return out
