"""Modeling: one shared encoder with task heads; the embedded offline encoder."""
