"""Errors a user can act on: each names the file, line or field and what was expected."""


class DataError(ValueError):
    """Input data that cannot be read as the layout it claims to be."""

    def __init__(self, path, message: str, line: int | None = None):
        where = str(path) if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class BundleError(ValueError):
    """A model bundle that is missing, corrupt, of an unknown version or for other data."""


class UsageError(ValueError):
    """A command-line option or a model setting outside the values it accepts."""
