"""User-facing errors.

A :class:`InquireError` is a mistake the user can fix (a wrong argument, a malformed file, no
network). The CLI prints its message without a traceback; the message always says what was
wrong, where, and what to do. Anything else escaping is a bug and keeps its traceback.
"""


class InquireError(Exception):
    """An error caused by the user's input or environment, with a message that says how to fix it."""
