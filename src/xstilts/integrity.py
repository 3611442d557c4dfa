"""Checksums of finished nodes, and the check a run makes of them before trusting anything on resume.

Every finished node's completion record (done.json of an evaluation, phase.json of a training phase) is sealed with the
sha256 and size of every file the node wrote and a checksum of the record itself. On resume `verify_run` checks each
finished node: a missing or unparsable record, an edited record, a missing, truncated or corrupted file is reported in
one line, the node's directory is moved aside to `<run>/corrupt/` (kept as evidence, never used) and the node is
recomputed with every finished node downstream of it.

Hashing multi-GB checkpoints on every resume would cost minutes, so a file's verified (size, mtime, sha256) is cached in
`<run>/.verified.json`; a file whose size or mtime changed since is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from xstilts.atomic import atomic_write_text

SEAL = "integrity"
# A finished node whose weights a run removed on purpose (`checkpoints: {target: drop_after_eval}`): the files it lists
# are gone by design, so they are not checked; the rest of the node (its record, metrics) still is.
WEIGHTS_DROPPED = "weights_dropped.json"
CACHE_FILE = ".verified.json"
_CHUNK = 1 << 20


class PlanNode(Protocol):
    """What verification needs of a plan node."""

    id: str
    kind: str
    depends_on: list[str]

    def dirname(self) -> str: ...


NodeT = TypeVar("NodeT", bound=PlanNode)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _record_digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != SEAL}
    files = record.get(SEAL, {}).get("files", {})
    return hashlib.sha256(json.dumps([body, files], sort_keys=True).encode()).hexdigest()


def seal(record: dict[str, Any], directory: Path, record_name: str) -> dict[str, Any]:
    """The record with checksums of every file under `directory` (except the record itself) and of the record."""
    directory = Path(directory)
    files = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != record_name:
            files[p.relative_to(directory).as_posix()] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    record = json.loads(json.dumps(record, default=str))  # the types the record will have when read back
    record[SEAL] = {"files": files}
    record[SEAL]["record_sha256"] = _record_digest(record)
    return record


def write_record(directory: Path, record_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Seal `record` over the files already in `directory` and write it as the node's completion record (last)."""
    sealed = seal(record, directory, record_name)
    path = Path(directory) / record_name
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(sealed, indent=2))
        f.flush()
        os.fsync(f.fileno())
    return sealed


class VerifyCache:
    """sha256 of files already verified, keyed by path, valid while size and mtime are unchanged."""

    def __init__(self, out: Path):
        self.path = Path(out) / CACHE_FILE
        try:
            self.entries: dict[str, list[Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def digest(self, path: Path, st: os.stat_result) -> str:
        key = str(path)
        hit = self.entries.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        digest = sha256_file(path)
        self.entries[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            atomic_write_text(self.path, json.dumps(self.entries))


def check_node(directory: Path, record_name: str, cache: VerifyCache | None = None) -> tuple[dict | None, str | None]:
    """(record, None) for a finished, intact node; (None, None) for a node never finished; (None, problem) else."""
    rec_path = directory / record_name
    if not rec_path.is_file():
        return None, (None if not directory.exists() else f"{record_name} missing from a finished node's directory")
    try:
        record = json.loads(rec_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None, f"{record_name} is not valid JSON (truncated or edited)"
    if not isinstance(record, dict):
        return None, f"{record_name} is not a JSON object (edited)"
    sealed = record.get(SEAL)
    if not isinstance(sealed, dict) or "files" not in sealed:
        return record, None  # written before checksums existed: accepted (counted and reported by verify_run)
    if sealed.get("record_sha256") != _record_digest(record):
        return None, f"{record_name} was edited after the node finished (checksum mismatch)"
    dropped = dropped_files(directory)
    for rel, want in sorted(sealed["files"].items()):
        if rel in dropped:
            continue
        p = directory / rel
        try:
            st = p.stat()
        except FileNotFoundError:
            return None, f"{rel} is missing"
        if st.st_size != want["size"]:
            return None, f"{rel} is truncated or changed (size {st.st_size}, written {want['size']})"
        digest = cache.digest(p, st) if cache is not None else sha256_file(p)
        if digest != want["sha256"]:
            return None, f"{rel} is corrupted (sha256 differs from the one recorded when the node finished)"
    return record, None


def dropped_files(directory: Path) -> set[str]:
    """The files a node's WEIGHTS_DROPPED marker says were removed on purpose (empty without one)."""
    try:
        marker = json.loads((Path(directory) / WEIGHTS_DROPPED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(f) for f in marker.get("files", [])} if isinstance(marker, dict) else set()


def quarantine(out: Path, directory: Path) -> Path:
    """Move a bad node directory aside (never deleted: it is evidence) so the node is recomputed."""
    dest = out / "corrupt" / f"{directory.name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(directory, dest)
    return dest


# The hidden folders atomic.atomic_directory writes beside a node (.<name>.<random>.partial, .<name>.<random>.old for a
# replaced one): a killed run leaves them behind. (".tmp-" is the older name.)
SCRATCH_SUFFIXES = (".partial", ".old")


def remove_partial_outputs(out: Path) -> int:
    """Delete temporary node directories left by killed runs (the run lock is held: none belongs to a live run)."""
    nodes = out / "nodes"
    n = 0
    if nodes.is_dir():
        for p in nodes.iterdir():
            if p.name.startswith(".") and (p.name.endswith(SCRATCH_SUFFIXES) or ".tmp-" in p.name):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                n += 1
    return n


def verify_run(
    out: Path, nodes: Iterable[NodeT], record_name: Callable[[NodeT], str], report: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """Check every finished node of a run before resuming it; returns {node id: its record} of the intact ones.

    A bad node is reported (one line), moved aside and recomputed, and so is every finished node downstream of it
    (it was computed from outputs that can no longer be trusted)."""
    out = Path(out)
    nodes = list(nodes)
    remove_partial_outputs(out)
    cache = VerifyCache(out)
    records: dict[str, dict[str, Any]] = {}
    bad: set[str] = set()
    legacy = 0
    for n in nodes:  # plan order: upstream before downstream
        d = out / "nodes" / n.dirname()
        if any(u in bad for u in n.depends_on):
            if d.exists():
                report(
                    f"{n.id}: recomputed because upstream {next(u for u in n.depends_on if u in bad)} is; "
                    f"old output moved to {quarantine(out, d)}"
                )
            bad.add(n.id)
            continue
        record, problem = check_node(d, record_name(n), cache)
        if problem is not None:
            report(f"{n.id}: {problem} in {d}; recomputed (old output moved to {quarantine(out, d)})")
            bad.add(n.id)
        elif record is not None:
            records[n.id] = record
            legacy += SEAL not in record
    if legacy:
        report(f"{legacy} finished node(s) have no checksums (written by an older xstilts); used unverified")
    cache.save()
    return records
