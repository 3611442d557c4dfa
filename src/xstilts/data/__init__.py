"""Data: typed examples per task family, readers (hub, official download layout, local JSONL) and featurization.

The modules holding row mappers, local readers and task loaders register them with decorators; they are imported here,
once and by name, so every registry is complete whichever data module a caller imports first.
"""

from xstilts.data import mappers, xtreme  # noqa: F401  (registers the row mappers, local readers and task loaders)
