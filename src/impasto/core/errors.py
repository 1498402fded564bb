"""The exceptions impasto raises. Every message is one line that makes sense without the CLI."""


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (its type name where it has none): the reason part
    of a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ImpastoError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class OptionError(ImpastoError, ValueError):
    """A bad option value. `text` names the option as {name}: the Python API shows `style-weight`,
    the command line `--style-weight`."""

    def __init__(self, option: str, text: str):
        self.option, self.text = option, text
        super().__init__(self.render(option.replace("_", "-")))

    def render(self, name: str) -> str:
        return self.text.format(name=name)


class OutputError(ImpastoError, OSError):
    """An output that cannot be written (missing or read-only folder, full disk). Also an OSError,
    so code that catches write failures as OSError keeps working."""


class Cancelled(ImpastoError):
    """Raised by a progress callback to stop a run: it ends within one iteration and writes no
    output (a training run keeps a checkpoint at the step it reached, so --resume continues)."""

    def __init__(self, message: str = "cancelled; no output was written"):
        super().__init__(message)
