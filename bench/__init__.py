"""Benchmarks: scripts that print their figures (run as `python bench/<name>.py`);
a package so tests can import the measurement functions they check."""
