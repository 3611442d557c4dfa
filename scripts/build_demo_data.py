#!/usr/bin/env python3
"""Build the offline demo tasks (src/xstilts/demo_data/ + src/xstilts/tasks/defs/demo/) from real offline resources.

Sources (all from Debian or PyPI, nothing from the Hugging Face hub): gettext catalogs of five Debian packages,
pycountry, English WordNet 3.0 (wordnet-base), Apertium taggers, and the Turkish treebanks wheel.
Missing Debian/PyPI packages are installed first (needs root or sudo for apt-get). Deterministic: rerunning with the
same package versions rewrites byte-identical files (versions are recorded in demo_data/manifest.json).

    python scripts/build_demo_data.py [--tasks demo_pos,demo_qa] [--out DIR] [--no-install]

`make demo` never runs this: it only reads the committed output.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "src"))

DATA_DIR = ROOT / "src" / "xstilts" / "demo_data"
DEFS_DIR = ROOT / "src" / "xstilts" / "tasks" / "defs" / "demo"
MAX_TOTAL_BYTES = 20 * 1024 * 1024

from demo_data import apertium, catalogs, wordnet  # noqa: E402  (stdlib-only at import time)

DEBIAN_PACKAGES = catalogs.DEBIAN_PACKAGES + wordnet.DEBIAN_PACKAGES + apertium.DEBIAN_PACKAGES
# Build-only Python packages (not dependencies of xstilts), pinned so the output is reproducible.
PYPI_PACKAGES = {"pycountry": "26.2.16", "turkish-treebanks": "1.0.0"}

GETTEXT_LICENSE = (
    "gettext catalogs: coreutils GPL-3+, GLib LGPL-2.1+, GTK 2 LGPL-2+, gdk-pixbuf LGPL-2.1+, "
    "iso-codes LGPL-2.1+ (translators' attribution in the Debian packages)"
)
WORDNET_LICENSE = "WordNet 3.0 license (Princeton University; permissive, keep the copyright notice)"
NOT_REAL = "DEMO data built offline, NOT the real benchmark; see src/xstilts/demo_data/README.md."


def _missing_debian() -> list[str]:
    missing = []
    for pkg in DEBIAN_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_dependencies() -> None:
    """Install missing Debian packages (apt-get) and build-only PyPI packages (pip, pinned)."""
    missing = _missing_debian()
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        if sudo and shutil.which("sudo") is None:
            sys.exit(f"missing Debian packages {missing}: install them as root (apt-get install {' '.join(missing)})")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(
            sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env
        )
    want = []
    for name, version in PYPI_PACKAGES.items():
        try:
            if md.version(name) == version:
                continue
        except md.PackageNotFoundError:
            pass
        want.append(f"{name}=={version}")
    if want:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *want], check=True)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in DEBIAN_PACKAGES:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        out[f"debian:{pkg}"] = r.stdout.strip()
    for name in PYPI_PACKAGES:
        out[f"pypi:{name}"] = md.version(name)
    return out


def task_specs() -> dict[str, tuple[Callable[[], dict[tuple[str, str], list[Any]]], dict[str, Any]]]:
    """task name -> (builder, TaskSpec fields other than name/languages/splits/size/local_dir)."""
    from demo_data import pos, qa, retrieval, topic, wn_tasks

    return {
        "demo_tatoeba": (
            retrieval.build_tatoeba,
            {
                "role": "target",
                "family": "retrieval",
                "metric": "retrieval_accuracy",
                "retrieval": "nearest",
                "group": "retrieval",
                "description": (
                    f"{NOT_REAL} Tatoeba-style retrieval: find the English original of each human translation of a "
                    "software interface message (gettext catalogs of coreutils, GLib, GTK 2, gdk-pixbuf, iso-codes; "
                    "3+ English words, no format codes). Gold pairs only; dev and test disjoint."
                ),
                "license": GETTEXT_LICENSE,
            },
        ),
        "demo_bucc": (
            retrieval.build_bucc,
            {
                "role": "target",
                "family": "retrieval",
                "metric": "bucc_f1",
                "retrieval": "mining",
                "group": "retrieval",
                "description": (
                    f"{NOT_REAL} BUCC-style mining on gettext interface messages: per language gold translation pairs "
                    "plus as many source-only and English-only distractor messages (whose translation is absent)."
                ),
                "license": GETTEXT_LICENSE,
            },
        ),
        "demo_pos": (
            pos.build_pos,
            {
                "role": "target",
                "family": "tagging",
                "metric": "f1",
                "group": "tagging",
                "description": (
                    f"{NOT_REAL} UPOS tagging. en train/dev/test and ca/es/eu dev/test carry SILVER tags from Apertium's "
                    "morphological analysers and taggers (eng-spa, spa-eng, cat-eng, eu-en) mapped to UD UPOS, on "
                    "WordNet example sentences, English interface messages and their human ca/es/eu translations. "
                    "tr dev/test are GOLD tags from Google's Turkish web+Wikipedia treebanks (12-tag set mapped to UPOS; "
                    "tokens are morphological segments)."
                ),
                "license": "Turkish treebanks Apache-2.0; " + GETTEXT_LICENSE + "; " + WORDNET_LICENSE,
            },
        ),
        "demo_topic": (
            topic.build_topic,
            {
                "role": "target",
                "family": "classification",
                "metric": "accuracy",
                "group": "classification",
                "labels": topic.labels(),
                "description": (
                    f"{NOT_REAL} Single-sentence classification: which software catalog (coreutils, gdk-pixbuf, glib, "
                    "gtk, iso-codes) an interface message comes from. Train/dev on English msgids; dev/test in en and "
                    "8 languages on the human translations of held-out messages. Classes balanced."
                ),
                "license": GETTEXT_LICENSE,
            },
        ),
        "demo_qa": (
            qa.build_qa,
            {
                "role": "target",
                "family": "span_qa",
                "metric": "squad_em_f1",
                "group": "qa",
                "description": (
                    f"{NOT_REAL} Extractive QA from templates: contexts state ISO 3166 codes, official names and ISO 4217 "
                    "currencies of three countries (pycountry), questions ask for one fact. Names come from pycountry's "
                    "translations; templates were written per language. Countries are disjoint across splits; "
                    "dev/test hold the same questions in every language."
                ),
                "license": "pycountry LGPL-2.1 (data from iso-codes, LGPL-2.1+)",
            },
        ),
        "demo_wn_entail": (
            wn_tasks.build_entail,
            {
                "role": "intermediate",
                "family": "classification",
                "metric": "accuracy",
                "labels": wn_tasks.ENTAIL_LABELS,
                "description": (
                    f"{NOT_REAL} NLI from WordNet noun hypernymy with sentence templates: hyponym -> hypernym is "
                    "entailment, the reverse is neutral, a co-hyponym or unrelated noun contradicts a 'This is a ...' "
                    "sentence and is neutral to a 'There is a ...' one."
                ),
                "license": WORDNET_LICENSE,
            },
        ),
        "demo_wn_gloss": (
            wn_tasks.build_gloss,
            {
                "role": "intermediate",
                "family": "multiple_choice",
                "metric": "accuracy",
                "description": (
                    f"{NOT_REAL} Word sense multiple choice from WordNet: a WordNet example sentence, pick the gloss of "
                    "the sense the word has there among 4 (wrong choices: the word's other senses first)."
                ),
                "license": WORDNET_LICENSE,
            },
        ),
        "demo_wn_define": (
            wn_tasks.build_define,
            {
                "role": "intermediate",
                "family": "span_qa",
                "metric": "squad_em_f1",
                "description": (
                    f"{NOT_REAL} Extractive QA from WordNet: the context lists five 'word: definition.' entries from one "
                    "lexicographer file, the question quotes one definition, the answer is its word."
                ),
                "license": WORDNET_LICENSE,
            },
        ),
        "demo_wn_supersense": (
            wn_tasks.build_supersense,
            {
                "role": "intermediate",
                "family": "tagging",
                "metric": "f1",
                "description": (
                    f"{NOT_REAL} Supersense tagging from WordNet example sentences: the tokens of the synset's headword "
                    "carry its lexicographer file name (noun.animal, verb.motion, ...), all other tokens O."
                ),
                "license": WORDNET_LICENSE,
            },
        ),
    }


def _spec_yaml(name: str, fields: dict[str, Any], splits: dict[tuple[str, str], list[Any]]) -> dict[str, Any]:
    langs = sorted({lang for _, lang in splits})
    if "en" in langs:
        langs = ["en"] + [lang for lang in langs if lang != "en"]
    spec: dict[str, Any] = {
        "name": name,
        "role": fields["role"],
        "family": fields["family"],
        "description": fields["description"],
        "languages": langs,
        "train_language": "en",
        "metric": fields["metric"],
    }
    if "retrieval" in fields:  # the retrieval protocol, declared next to the metric it goes with
        spec["retrieval"] = fields["retrieval"]
    labels = fields.get("labels")
    if fields["family"] == "tagging":
        tags = sorted({t for rows in splits.values() for ex in rows for t in ex.tags})
        labels = ["O"] + [t for t in tags if t != "O"] if "O" in tags else tags
    if labels is not None:
        spec["labels"] = list(labels)
    spec["splits"] = [s for s in ("train", "dev", "test") if any(k[0] == s for k in splits)]
    if fields.get("group"):
        spec["group"] = fields["group"]
    spec["local_dir"] = f"../../../demo_data/{name}"
    if ("train", "en") in splits:
        spec["size"] = len(splits[("train", "en")])
    spec["license"] = fields["license"]
    return spec


def main(argv: list[str] | None = None) -> int:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="", help="comma-separated subset of tasks (default: all)")
    ap.add_argument("--out", type=Path, default=DATA_DIR, help="data directory (default: src/xstilts/demo_data)")
    ap.add_argument("--defs", type=Path, default=DEFS_DIR, help="task YAML directory")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get/pip install missing sources")
    args = ap.parse_args(argv)
    if not args.no_install:
        ensure_dependencies()
    from demo_data.common import write_task

    specs = task_specs()
    chosen = [t for t in args.tasks.split(",") if t] or list(specs)
    unknown = set(chosen) - set(specs)
    if unknown:
        ap.error(f"unknown task(s) {sorted(unknown)}; known: {', '.join(specs)}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.defs.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"tasks": {}}
    t0 = time.time()
    for name in chosen:
        builder, fields = specs[name]
        t = time.time()
        splits = builder()
        counts = write_task(args.out, name, splits)
        spec = _spec_yaml(name, fields, splits)
        (args.defs / f"{name}.yaml").write_text(
            yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None),
            encoding="utf-8",
        )
        manifest["tasks"][name] = {
            "files": counts,
            "bytes": sum(p.stat().st_size for p in (args.out / name).glob("*.jsonl")),
        }
        print(f"{name}: {sum(counts.values())} examples in {len(counts)} files ({time.time() - t:.1f}s)", flush=True)
    manifest["tasks"] = dict(sorted(manifest["tasks"].items()))
    manifest["sources"] = _versions()
    total = sum(p.stat().st_size for p in args.out.rglob("*.jsonl"))
    manifest["total_bytes"] = total
    manifest_path.write_text(
        json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"total {total / 2**20:.2f} MB in {args.out}; built in {time.time() - t0:.0f}s")
    if total > MAX_TOTAL_BYTES:
        print(f"error: demo data exceeds {MAX_TOTAL_BYTES / 2**20:.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
