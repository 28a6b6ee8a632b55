"""Fuzzing provscan's parsers: targets (one per parser), seeds, mutations.

Driven by hypothesis in tests/test_fuzz.py (a few seconds a parser, in CI) and by
bench/fuzz.py (`make fuzz`: 100,000 inputs a parser, each timed, in memory-capped workers).
"""
