"""Moved to the one test kit, ``tests/kit``: import from ``kit`` instead."""

from kit import *  # noqa: F403
from kit import __all__  # noqa: F401
