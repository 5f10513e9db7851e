"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """Bad input from the user (a missing file, a bad config key, an unreachable server).

    The message is shown as is, on one line, without a traceback.
    """


def first_line(exc: BaseException) -> str:
    """An exception's message in one line (its first), for a `UserError` that wraps a library's error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
