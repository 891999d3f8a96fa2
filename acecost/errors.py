"""Errors a user can act on.

Everything the CLI reports as a one-line message (exit code 2) derives from
:class:`AcecostError`; anything else escaping is a bug and is shown in full
only with ``--debug``.
"""


class AcecostError(Exception):
    """A problem with the user's input: a target, an option, a config file."""


class TargetError(AcecostError):
    """The model target could not be loaded, found or traced."""


class ConfigError(AcecostError):
    """A budget configuration or option value is invalid."""
