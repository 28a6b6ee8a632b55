"""Error classes: one per interface, so the CLI can turn each into a clear line."""


class ProvscanError(Exception):
    """Base of every error that the CLI reports as one line and exit code 2."""


class SourceError(ProvscanError):
    """A target cannot be opened or read (missing path, unknown revision, no network...)."""


class UsageError(ProvscanError):
    """The command line asks for something that cannot be done."""


class AnalyzerError(ProvscanError):
    """An analyzer cannot run at all (not: one file failed, that is a finding)."""
