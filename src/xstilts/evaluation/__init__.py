"""Evaluation: official-parity metrics, the XTREME scorer, submission layout."""
