#!/usr/bin/env python3
"""BUCC mining at full scale: xstilts' one-to-one margin mining against a plain faiss flat k-NN search, in one process.

For each size N (sentences per side), random unit vectors (dim 384) with a planted subset of near-duplicate pairs
(N / 5 targets are noisy copies of sources) are mined two ways, and the time and the peak resident-memory increase
of each are printed with their ratio:
  baseline: faiss IndexFlatIP over the targets searched with the sources (k = 4), then the same the other way round:
            the k-NN both directions need, and nothing else;
  xstilts:  `retrieval.mine_one_to_one` (the production path of `bucc_candidates`): both k-NN searches (chunked over
            queries), ratio margins, the sort and the greedy one-to-one pass.
Acceptance: xstilts within 1.5x of the baseline at N = 100k. The recall of the planted pairs checks that the mining
mined something. Peak RSS is sampled every 2 ms from /proc/self/statm, relative to the RSS when the method starts
(freed heap returned to the system with malloc_trim before each run).

    python benchmarks/bucc_mining.py [--sizes 10000 50000 100000] [--dim 384] [--write-results]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xstilts.evaluation.retrieval import mine_one_to_one

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## BUCC mining at full scale (benchmarks/bucc_mining.py)"
PAGE = os.sysconf("SC_PAGE_SIZE")
NOTE = (
    "Peak RSS is the increase over the RSS when the method starts (the input vectors, 2 x N x dim float32, are "
    "allocated before). On a shared machine the seconds are inflated and noisy; the ratios compare two runs "
    "under the same load."
)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def trim_heap() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the numbers are then upper bounds for the later runs
        pass


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak RSS increase in bytes) of one call."""
    trim_heap()
    start = rss()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    return out, seconds, max(peak[0], rss()) - start


def plain_faiss(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    import faiss

    index = faiss.IndexFlatIP(y.shape[1])
    index.add(y)
    fwd = index.search(x, k)
    del index
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    bwd = index.search(y, k)
    return (*fwd, *bwd)


def planted(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.standard_normal((n, dim), dtype=np.float32)
    n_pairs = n // 5
    perm = rng.permutation(n)[:n_pairs]
    y[perm] = x[:n_pairs] + 0.5 * rng.standard_normal((n_pairs, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return x, y, {(i, int(perm[i])) for i in range(n_pairs)}


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    import faiss

    return (
        f"{model}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at start), "
        f"faiss {faiss.__version__}, numpy {np.__version__}, faiss GPUs {faiss.get_num_gpus()}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--write-results", action="store_true", help=f"replace the section '{SECTION}' in {RESULTS}")
    args = ap.parse_args()
    info = machine()
    print(info)
    header = (
        "| N per side | faiss flat both ways s | xstilts mining s | time ratio | faiss peak RSS MiB | "
        "xstilts peak RSS MiB | RSS ratio | planted recall |"
    )
    lines = [header, "|" + "---|" * 8]
    print(header)
    for n in args.sizes:
        x, y, gold = planted(n, args.dim)
        _, t_base, m_base = measure(lambda x=x, y=y: plain_faiss(x, y, args.k))
        # mine_one_to_one normalizes its inputs in place, as bucc_candidates lets it (the copies are made outside)
        pairs, t_ours, m_ours = measure(lambda a=x.copy(), b=y.copy(): mine_one_to_one(a, b, k=args.k, inplace=True))
        recall = len({(i, j) for i, j, _ in pairs} & gold) / len(gold)
        mib = 1024 * 1024
        row = (
            f"| {n:,} | {t_base:.2f} | {t_ours:.2f} | {t_ours / t_base:.2f} | {m_base / mib:.0f} | "
            f"{m_ours / mib:.0f} | {m_ours / max(m_base, 1):.2f} | {recall:.3f} |"
        )
        print(row, flush=True)
        lines.append(row)
        if args.write_results:  # after every size: a long run that is cut short still leaves its rows
            write_section(info, args, lines)


def write_section(info: str, args: argparse.Namespace, lines: list[str]) -> None:
    body = (
        f"{SECTION}\n\nMachine: {info}.\nCommand: `python benchmarks/bucc_mining.py --sizes "
        f"{' '.join(map(str, args.sizes))} --dim {args.dim} --write-results`; one run per size, both methods in "
        "one process, the baseline first.\n" + NOTE + "\n\n" + "\n".join(lines) + "\n"
    )
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Benchmark results\n"
    if SECTION in text:
        head, rest = text.split(SECTION, 1)
        nxt = rest.find("\n## ")
        text = head + body + (rest[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
