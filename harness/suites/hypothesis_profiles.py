"""Hypothesis profiles shared by the fuzz suite and the unit tests.

- ``ci``: derandomized (the same examples on every run), 200 examples per property, a
  500 ms deadline, and the failing example's reproduction blob printed.
- ``dev``: 1000 random examples per property, for a deeper search on a workstation.

The profile is ``$HYPOTHESIS_PROFILE`` when set, else ``ci`` when ``$CI`` is set, else ``dev``.
Importing this module registers both profiles and loads the chosen one; importing it again
does nothing more.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_COMMON = settings(
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)

settings.register_profile("ci", _COMMON, derandomize=True, max_examples=200)
settings.register_profile("dev", _COMMON, max_examples=1000)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
"""The name of the loaded profile."""

settings.load_profile(PROFILE)
