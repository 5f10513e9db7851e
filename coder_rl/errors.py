"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """Bad input from the user (a missing file, a bad config key, an unreachable server).

    The message is shown as is, on one line, without a traceback.
    """
