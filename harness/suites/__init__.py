"""The suites routecheck ships: one test per golden case, one per gate, and an opt-in fuzz
suite over the user's own catalogs.

Run them from an installed package with ``routecheck run --checkpoint=...`` or
``pytest --pyargs harness.suites --checkpoint=...``; add ``-m fuzz`` for the fuzz suite,
which a plain gate run leaves out.
"""
