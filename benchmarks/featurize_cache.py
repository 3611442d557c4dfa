#!/usr/bin/env python3
"""Featurizing the same English data a second time: from the on-disk feature cache against featurizing again, in one
process, with equality of the features checked. Data: the demo's demo_wn_entail (2,000 sentence pairs) and demo_qa
(2,000 extractive-QA questions, sliding windows with offsets); tokenizer: the embedded multilingual-e5-small's.

    python benchmarks/featurize_cache.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import machine  # noqa: E402

from xstilts.data.cache import featurize_cached  # noqa: E402
from xstilts.data.load import load_examples  # noqa: E402
from xstilts.defaults import phase_defaults  # noqa: E402
from xstilts.families.table import featurize  # noqa: E402
from xstilts.modeling.embedded import ensure_embedded_model  # noqa: E402
from xstilts.tasks import get_task  # noqa: E402


def main() -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ensure_embedded_model()))
    settings = phase_defaults("target")
    cache = Path(tempfile.mkdtemp(prefix="xstilts-featcache-"))
    print(f"machine: {machine()}")
    for name in ("demo_wn_entail", "demo_qa"):
        task = get_task(name)
        examples = load_examples(task, "train", "en")
        featurize_cached(task.family, examples, tok, task.labels, settings, True, cache_dir=cache)  # first: writes
        t = time.perf_counter()
        fresh = featurize(task.family, examples, tok, task.labels, settings, True)
        t_fresh = time.perf_counter() - t
        t = time.perf_counter()
        hit = featurize_cached(task.family, examples, tok, task.labels, settings, True, cache_dir=cache)
        t_hit = time.perf_counter() - t
        assert hit == fresh, "cached features differ from a fresh featurization"
        size = sum(p.stat().st_size for p in cache.rglob("*.npz")) / 2**20
        print(
            f"{name}: {len(examples)} examples -> {len(fresh)} features; featurize again {t_fresh:.3f} s, "
            f"cache hit {t_hit:.3f} s (key hashing + load): {t_fresh / t_hit:.1f}x faster; equal: yes; "
            f"cache so far {size:.1f} MiB"
        )


if __name__ == "__main__":
    main()
