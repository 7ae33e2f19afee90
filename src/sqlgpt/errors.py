"""The one exception type users see.

Everything that is the caller's fault or the environment's (bad input, missing or corrupt
files, an unreachable hub, a lost database connection) is raised as `SqlgptError` with a
message that fits on one line and says what to do. The CLI prints that line and exits 2;
anything else is a bug and keeps its traceback.
"""


class SqlgptError(Exception):
    """A clear, one-line error about the caller's input or environment."""


def first_line(error: BaseException) -> str:
    """The first line of a library's error message (or its type), to quote in ours."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
