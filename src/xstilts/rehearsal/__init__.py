"""Rehearsal: run any experiment spec end to end at toy scale, offline, before spending GPU-hours on it.

Every dataset is replaced by a few generated rows in its exact source schema (hub rows served from a local mirror of
`<id>/<config>/<split>.jsonl` files, the official XTREME download layout, jiant's CCG files), every language and split
the spec reaches; every model by a tiny random model of the same family and tokenizer type (BERT WordPiece or XLM-R
Unigram). The real loaders, mappers, planner, executor, scorer and report run unchanged.
"""

from xstilts.rehearsal.rehearse import rehearse_spec

__all__ = ["rehearse_spec"]
