"""xstilts: English intermediate-task training and zero-shot cross-lingual transfer (X-STILTs)."""

__version__ = "0.1.0"

# Bumped with every change to what a node computes from the same job (heads, training numerics, metrics); part of every
# node's hash, so a run resumed across such a change recomputes its nodes instead of mixing old and new results.
# 2: classification and multiple-choice heads read the checkpoint's pooler (jiant); CPU dropout masks by float arithmetic
#    and the last layer computed for position 0 only (round 5).
# 3: jiant parity (round 7): pooler `auto` (XLM-R's initialized from the config, trained, carried), QA windows every
#    doc_stride tokens with a 64-token question, intermediate phases carry their last weights, the first 500 dev
#    examples for early stopping; jobs carry task definitions and data fingerprints.
NUMERICS = 3
