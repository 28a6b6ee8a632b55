"""Code analyzers: licenses, notices, copied code."""
