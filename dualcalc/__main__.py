"""``python -m dualcalc``: the same as the ``dualcalc`` script."""

from dualcalc.cli.main import entry_point

entry_point()
