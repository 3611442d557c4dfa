"""Experiments: the YAML spec, the plan (a DAG of content-hashed nodes), executors (local, ray) and the results table."""
