"""Intermediate-task selection: rank candidate intermediate tasks for a target without training them all (issue 11).

`logme` (LogME, You et al. 2021) is importable from here; the ranking methods live in `methods`, the evaluation against
an exhaustive grid in `evaluate`, and the spec-level pruning in `prune`.
"""

from xstilts.selection.logme import logme, logme_details

__all__ = ["logme", "logme_details"]
