"""Minimal reader of compiled gettext catalogs (.mo).

Python's gettext.GNUTranslations raises on some real catalogs whose Plural-Forms header is malformed (one of the
gtk/glib translations here), and we only need the msgid -> msgstr table, so the binary format is read directly.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

_MAGIC_LE = 0x950412DE


def read_mo(path: str | Path) -> dict[str, str]:
    """msgid -> msgstr of one .mo file: singular entries only, message context stripped, header dropped."""
    data = Path(path).read_bytes()
    (magic,) = struct.unpack("<I", data[:4])
    endian = "<" if magic == _MAGIC_LE else ">"
    _, count, orig_off, trans_off = struct.unpack(endian + "4I", data[4:20])

    def entry(table: int, i: int) -> bytes:
        length, offset = struct.unpack(endian + "2I", data[table + 8 * i : table + 8 * i + 8])
        return data[offset : offset + length]

    raw = [(entry(orig_off, i), entry(trans_off, i)) for i in range(count)]
    charset = "utf-8"
    for k, v in raw:
        if k == b"":
            m = re.search(rb"charset=([A-Za-z0-9_-]+)", v)
            if m:
                charset = m.group(1).decode("ascii")
    out: dict[str, str] = {}
    for k, v in raw:
        if not k or b"\x00" in k:  # header, or a plural entry (msgid NUL msgid_plural): skipped on purpose
            continue
        msgid = k.decode(charset, errors="replace").split("\x04")[-1]  # drop msgctxt
        msgstr = v.decode(charset, errors="replace")
        if msgstr:
            out.setdefault(msgid, msgstr)
    return out
