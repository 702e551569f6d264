"""Exceptions that the CLI reports as a single line and a non-zero exit."""


class UserError(Exception):
    """Bad input from the user: say which file, what is wrong and what to do."""


class DataError(UserError):
    """A data root, image or label that cannot be used as given."""
