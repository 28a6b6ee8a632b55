"""Code analyzers: licenses and notices (scancode), copied code (clones)."""
