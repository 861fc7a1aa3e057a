"""One exception for every mistake a user can fix; the CLI prints it as one line and exits 2."""


class UsageError(Exception):
    """A bad flag, file or setting. The message says what to do."""
