"""The base class of every domain error: the user's input or environment is wrong, and the message says
which field, file or path and what was expected, in one line.

The command line and the Dagster boundary catch exactly these (a one-line error, exit code 2, or a
Dagster ``Failure``); anything else, a ValueError from pandas or numpy included, is a bug and keeps
its traceback. Domain errors also derive from the built-in class they always were (``ValueError``,
``RuntimeError``), so existing ``except ValueError`` code keeps working.
"""

from __future__ import annotations


class OdumError(Exception):
    """A domain error with a one-line message naming the field, file or path."""
