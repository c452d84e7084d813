"""Unlearning Lab engine: data, models, unlearning methods, metrics and the run store.

Nothing below this package imports Streamlit; the dashboard and the CLI are thin layers over it.
"""

__version__ = "0.1.0"


class UserInputError(ValueError):
    """Bad input from a user (CLI flag, form value, uploaded file): shown as a one-line message."""
