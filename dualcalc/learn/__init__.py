"""Learners on neural kernels: infinite-ensemble predictions, kernel ridge, GP kernels, streaming.

Consumers of ``dualcalc.nn`` (exact kernels) and of feature maps; nothing upstream imports
this package. Public entry points: ``dualcalc.predict`` and ``dualcalc.sklearn``.
"""
