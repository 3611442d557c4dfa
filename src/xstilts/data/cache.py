"""A content-fingerprinted on-disk cache of featurized data, so each distinct (tokenizer, examples, settings) is featurized
once and shared by every node and phase that needs it.

Key: the tokenizer's fingerprint (a hash of its serialized vocabulary, normalizer and special tokens), the examples'
content hash, the family, the label list, train/eval mode, the featurization settings that matter (max_seq_length,
doc_stride) and a hash of the source of the family's featurizer module (a code change invalidates old entries). Stored as one numpy .npz per key
(columns of ragged int/float arrays with offsets; never pickles), written to a temporary file and renamed into place, so
concurrent writers of the same key are harmless. Location: $XSTILTS_HOME/features, or the `cache_dir` argument.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from xstilts.atomic import atomic_file
from xstilts.families import family_ops
from xstilts.families.table import featurize

FORMAT = 1
_SETTINGS_USED = ("max_seq_length", "doc_stride", "max_query_length")


@functools.cache
def _module_hash(module: ModuleType) -> str:
    return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()[:16]


def _code_hash(family: str) -> str:
    """Hash of the source of the module holding the family's featurizer (families/featurize.py for the built-in
    families): a code change there invalidates old entries."""
    module = inspect.getmodule(family_ops(family).featurize)
    return _module_hash(module) if module is not None else ""


def default_cache_dir() -> Path:
    from xstilts.paths import default_home

    return default_home() / "features"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of everything that decides token ids: the fast tokenizer's full JSON (vocab, merges, normalizer,
    pre-tokenizer, post-processor) and the special-token map; a slow tokenizer is saved to a scratch folder and hashed."""
    cached = getattr(tokenizer, "_xstilts_fingerprint", None)
    if cached:
        return cached
    h = hashlib.sha256()
    h.update(type(tokenizer).__name__.encode())
    h.update(json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str).encode())
    h.update(str(getattr(tokenizer, "model_max_length", "")).encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        with tempfile.TemporaryDirectory() as d:
            tokenizer.save_pretrained(d)
            for f in sorted(Path(d).rglob("*")):
                if f.is_file():
                    h.update(f.name.encode())
                    h.update(f.read_bytes())
    fp = h.hexdigest()
    try:
        tokenizer._xstilts_fingerprint = fp  # computed once per tokenizer object
    except AttributeError:
        pass
    return fp


def _plain(o: Any) -> Any:
    return asdict(o) if is_dataclass(o) and not isinstance(o, type) else str(o)


def examples_fingerprint(examples: Sequence[Any]) -> str:
    """Hash of the examples' content (every field, in order), through one JSON encoding of the whole list."""
    rows = [ex.__dict__ if is_dataclass(ex) and hasattr(ex, "__dict__") else ex for ex in examples]
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(
    family: str,
    examples: Sequence[Any],
    tokenizer: Any,
    labels: list[str] | None,
    settings: dict[str, Any],
    train: bool,
) -> str:
    material = {
        "format": FORMAT,
        "code": _code_hash(family),
        "family": family,
        "labels": labels,
        "train": bool(train),
        "settings": {k: settings.get(k) for k in _SETTINGS_USED},
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "examples": examples_fingerprint(examples),
        "n": len(examples),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


# ---- columnar encoding of feature dicts (ints, floats, lists, lists of lists, offset pairs or None) ----------------


class _Unsupported(Exception):
    """A value this format does not encode: the features are returned uncached."""


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num_array(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, float) for v in values):
        return np.asarray(values, dtype=np.float64)
    raise _Unsupported("mixed numbers")


def _lengths(rows: list[list[Any]]) -> np.ndarray:
    return np.cumsum([0] + [len(r) for r in rows], dtype=np.int64)


def _encode_column(name: str, values: list[Any], arrays: dict[str, np.ndarray]) -> str:
    first = next((v for v in values if v is not None), None)
    if _is_num(first):
        arrays[name] = _num_array(values)
        return "scalar"
    if not isinstance(first, list):
        raise _Unsupported(f"{name}: {type(first).__name__}")
    sample = next((x for row in values for x in row if x is not None), None)
    if sample is None or _is_num(sample):
        flat = [x for row in values for x in row]
        arrays[name + ".off"] = _lengths(values)
        if flat and all(type(x) is int for x in flat) and min(flat) == max(flat):  # e.g. attention_mask: all 1
            arrays[name] = np.asarray([flat[0]], dtype=np.int64)
            return "const"
        arrays[name] = _num_array(flat) if flat else np.zeros(0, dtype=np.int64)
        return "list"
    if isinstance(sample, tuple) and len(sample) == 2:  # offsets per token: (start, end) or None for non-context
        flat = [x for row in values for x in row]
        if not all(x is None or (isinstance(x, tuple) and len(x) == 2) for x in flat):
            raise _Unsupported(name)
        arrays[name] = np.asarray([(-1, -1) if x is None else x for x in flat], dtype=np.int64).reshape(-1, 2)
        arrays[name + ".none"] = np.asarray([x is None for x in flat], dtype=bool)
        arrays[name + ".off"] = _lengths(values)
        return "pairs"
    if isinstance(sample, list):  # multiple choice: one token list per choice
        inner = [x for row in values for x in row]
        flat = [t for x in inner for t in x]
        arrays[name] = _num_array(flat)
        arrays[name + ".inner"] = _lengths(inner)
        arrays[name + ".off"] = _lengths(values)
        return "list2"
    raise _Unsupported(name)


def _split(flat: list[Any], off: np.ndarray) -> list[list[Any]]:
    o = off.tolist()
    return [flat[o[i] : o[i + 1]] for i in range(len(o) - 1)]


def _decode_column(kind: str, name: str, z: Any) -> list[Any]:
    if kind == "scalar":
        return z[name].tolist()
    if kind == "list":
        return _split(z[name].tolist(), z[name + ".off"])
    if kind == "const":
        value, o = int(z[name][0]), z[name + ".off"]
        return [[value] * n for n in np.diff(o).tolist()]
    if kind == "pairs":
        ab = z[name]
        pairs: list[Any] = list(zip(ab[:, 0].tolist(), ab[:, 1].tolist(), strict=False))
        for i in np.flatnonzero(z[name + ".none"]).tolist():
            pairs[i] = None
        return _split(pairs, z[name + ".off"])
    if kind == "list2":
        return _split(_split(z[name].tolist(), z[name + ".inner"]), z[name + ".off"])
    raise ValueError(kind)


def encode_features(feats: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Feature dicts -> named numpy arrays (plus a JSON manifest); raises _Unsupported for other value types."""
    top = sorted({k for f in feats for k in f if k != "meta"})
    meta = sorted({k for f in feats for k in f.get("meta", {})})
    arrays: dict[str, np.ndarray] = {}
    columns = []
    for path in [("f", k) for k in top] + [("m", k) for k in meta]:
        where, key = path
        rows = [(f if where == "f" else f.get("meta", {})) for f in feats]
        present = [key in r for r in rows]
        name = f"{where}.{key}"
        kind = _encode_column(name, [r.get(key) for r in rows], arrays) if any(present) else "scalar"
        if not all(present):
            arrays[name + ".present"] = np.asarray(present, dtype=bool)
        columns.append({"where": where, "key": key, "kind": kind, "all": all(present)})
    manifest = {"format": FORMAT, "n": len(feats), "columns": columns, "meta": [("meta" in f) for f in feats]}
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    return arrays


def decode_features(z: Any) -> list[dict[str, Any]]:
    manifest = json.loads(bytes(z["manifest"]).decode())
    n = manifest["n"]
    feats: list[dict[str, Any]] = [{} for _ in range(n)]
    metas: list[dict[str, Any]] = [{} for _ in range(n)]
    for col in manifest["columns"]:
        name = f"{col['where']}.{col['key']}"
        values = _decode_column(col["kind"], name, z)
        present = [True] * n if col["all"] else z[name + ".present"].tolist()
        target = feats if col["where"] == "f" else metas
        for d, v, p in zip(target, values, present, strict=False):
            if p:
                d[col["key"]] = v
    for f, m, has in zip(feats, metas, manifest["meta"], strict=False):
        if has:
            f["meta"] = m
    return feats


def _write_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_file(path, binary=True) as fh:  # readers see the old state or the whole file
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy>=2.1 stub: **arrays might bind allow_pickle


def featurize_cached(
    family: str,
    examples: Sequence[Any],
    tokenizer: Any,
    labels: list[str] | None,
    settings: dict[str, Any],
    train: bool,
    cache_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """`featurize(...)` through the on-disk cache: equal features, computed once per distinct input.

    cache_dir: None = $XSTILTS_HOME/features. A feature layout the format cannot hold is featurized and returned uncached.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(family, examples, tokenizer, labels, settings, train)
    path = root / key[:2] / f"{key}.npz"
    if path.is_file():
        enabled = gc.isenabled()
        gc.disable()  # millions of small lists: the cyclic collector would rescan them over and over (none are cycles)
        try:
            with np.load(path, allow_pickle=False) as z:
                return decode_features(z)
        except (OSError, ValueError, KeyError):  # a damaged entry (e.g. disk full): featurize again and overwrite
            pass
        finally:
            if enabled:
                gc.enable()
    feats = featurize(family, examples, tokenizer, labels, settings, train)
    try:
        arrays = encode_features(feats)
    except _Unsupported:
        return feats
    _write_atomic(path, arrays)
    return feats
