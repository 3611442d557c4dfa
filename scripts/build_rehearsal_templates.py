"""Build src/xstilts/rehearsal/templates.json: a few rows per hub dataset (id, config pattern) in the dataset's exact
schema, and a few lines per user-file format (official XTREME BUCC layout, jiant's CCG files), taken from the test
fixtures (tests/fixtures/hub, tests/fixtures/xtreme). `xstilts rehearse` generates its toy data from these.

Run: python scripts/build_rehearsal_templates.py  (deterministic; the output is committed)
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "src" / "xstilts" / "rehearsal" / "templates.json"
MAX_ROWS = 8
# Tasks whose fixture directory is another task's (they read the same hub dataset).
FIXTURE_DIR = {"conll2003_chunk": "conll2003", "conll2003_pos": "conll2003"}


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:MAX_ROWS]


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "src"))
    from xstilts.tasks import list_tasks

    hub: dict[str, dict[str, list[dict]]] = {}
    for task in sorted(list_tasks(), key=lambda t: t.name):
        src = task.source
        if src is None:
            continue
        key = f"{src.id}|{src.config or ''}"
        if key in hub:
            continue
        if src.id == "google/xtreme":
            prefix = (src.config or "").split("{")[0]
            dirs = sorted(
                d
                for d in (FIX / "xtreme" / "hub").iterdir()
                if d.name.startswith(prefix) and (prefix or d.name == src.config)
            )
            # Prefer the English config (it carries the train split), else the first.
            dirs.sort(key=lambda d: (not d.name.endswith((".en", ".en.en", "English")), d.name))
        else:
            dirs = [FIX / "hub" / FIXTURE_DIR.get(task.name, task.name)]
        files: dict[str, list[dict]] = {}
        for d in dirs:
            for f in sorted(d.glob("*.jsonl")) if d.is_dir() else []:
                files.setdefault(f.stem, rows_of(f))
        if files:
            hub[key] = files
    official = {
        # One split's files (sentences with gold pairs): the rehearsal writes them for every split it needs.
        "bucc2018": {
            f.name.rsplit(".", 1)[1].replace("de", "{lang}"): f.read_text(encoding="utf-8")
            for f in sorted((FIX / "xtreme" / "official" / "bucc2018").glob("de-en.dev.*"))
        },
    }
    local = {"ccg": (FIX / "hub" / "ccg" / "ccg.train").read_text(encoding="utf-8")}
    OUT.write_text(
        json.dumps({"hub": hub, "official": official, "local": local}, ensure_ascii=False, indent=0, sort_keys=True)
        + "\n",
        encoding="utf-8",
    )
    print(f"{OUT}: {len(hub)} hub datasets")


if __name__ == "__main__":
    main()
