"""Analysis: tables, statistics, plots and the HTML/Markdown report, rebuilt from a results table alone."""
