"""xstilts: English intermediate-task training and zero-shot cross-lingual transfer (X-STILTs)."""

__version__ = "0.1.0"

# Bumped with every change to what a node computes from the same job (heads, training numerics, metrics); part of every
# node's hash, so a run resumed across such a change recomputes its nodes instead of mixing old and new results.
# 2: classification and multiple-choice heads read the checkpoint's pooler (jiant); CPU dropout masks by float arithmetic
#    and the last layer computed for position 0 only (round 5).
NUMERICS = 2
