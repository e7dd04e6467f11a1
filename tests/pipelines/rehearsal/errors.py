"""The one failure of the rehearsal itself, apart from what the pipeline's steps report."""

from __future__ import annotations


class RehearsalError(AssertionError):
    """The pipeline uses something the rehearsal (and so the service) would not accept."""
