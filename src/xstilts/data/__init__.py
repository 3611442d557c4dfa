"""Data: typed examples per task family, readers (hub, official download layout, local JSONL) and featurization."""
