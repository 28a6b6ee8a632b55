"""Weight lineage: is this checkpoint built on that one? Calibrated, disguise-robust evidence.

Entry points: compare.compare_models (two models or fingerprints), fingerprint.extract
(a compact, comparable summary of one checkpoint), analyzer.WeightsAnalyzer (scan --against).
"""
