"""Presentation: terminal, Markdown and HTML renderers over the results model.

Nothing here computes a number; every renderer reads :class:`harness.results.RunResults`
(and, for a comparison, :class:`harness.compare.Comparison`) and only formats it.
"""

from harness.render.labels import MetricText, metric_text, outcome_text

__all__ = ["MetricText", "metric_text", "outcome_text"]
