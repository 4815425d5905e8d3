"""User-facing errors.

Every failure a user can cause (bad YAML, an arch string that does not parse, an unknown space, a
missing table entry...) is a :class:`NasError`. The CLI turns it into one line on stderr and exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class NasError(Exception):
    """Base class of every error caused by user input or environment, never by a bug."""


class ArchError(NasError):
    """An architecture (string, YAML or value) is malformed or inconsistent."""


class SpaceError(NasError):
    """A search-space file is malformed, or a named space does not exist."""


class ExportError(NasError):
    """A model could not be exported or its exported form does not match torch."""
