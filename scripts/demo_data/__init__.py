"""Builders of the offline demo tasks (see scripts/build_demo_data.py and src/xstilts/demo_data/README.md)."""
