"""User mistakes vs. bugs.

A `UserError` is bad input the user can fix (a config field, a file, an option). The `alslm`
command prints it as one line naming the file or field and the fix, and exits with code 2; a bug
still shows its traceback. `alslm --debug ...` (or ALSLM_DEBUG=1) shows the traceback for user
errors too.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input; the message names the file/field, what was wrong and what is accepted."""


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error on a path the user named (no traceback needed)."""
    what = {IsADirectoryError: "is a directory, expected a file", NotADirectoryError: "is not a directory",
            FileNotFoundError: "does not exist", PermissionError: "permission denied"}.get(type(exc))
    name = exc.filename if exc.filename is not None else ""
    if what and name:
        return f"{name}: {what}"
    return str(exc)
