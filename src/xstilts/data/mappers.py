"""Row mappers for the English intermediate tasks' hub datasets."""

from __future__ import annotations
