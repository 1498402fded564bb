"""The one exception type users see: its message is printed as a one-line error."""


class ImpastoError(Exception):
    """A problem with the user's input or environment, explained in one line."""
