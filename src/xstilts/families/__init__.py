"""Task families: the family table (FamilyOps per family) and the pure, per-family pieces it holds: example types,
featurizers, heads, decoders, submission files and metrics. See families/table.py."""

from xstilts.families.table import (
    FAMILY_TABLE,
    FamilyOps,
    family_ops,
    metric_for,
    metric_names,
    missing_pieces,
    register_family,
    unregister_family,
)

__all__ = [
    "FAMILY_TABLE",
    "FamilyOps",
    "family_ops",
    "metric_for",
    "metric_names",
    "missing_pieces",
    "register_family",
    "unregister_family",
]
