"""Calibration of a printed closed form: the numbers the template needs besides the derivation.

The compile stage measures them (``dualcalc.compiler.calibrate``); the template only prints
them, so rendering stays a pure function of (derivation, calibration).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Value margins (float32, float64): the printed form is exact on |rho| <= 1.
EXACT = (0.0, 0.0)
#: Variance limits (float32, float64) of a closed form that holds everywhere.
UNLIMITED = (float("inf"), float("inf"))


@dataclass(frozen=True)
class Calibration:
    """Where a printed closed form holds: evaluated ``margins`` inside rho = +-1 (0/0 forms,
    extrapolated to the edge) and trusted up to the variances ``limits`` (Mehler beyond),
    each a (float32, float64) pair."""

    margins: tuple[float, float] = EXACT
    limits: tuple[float, float] = UNLIMITED


#: The calibration of a form that needs none (and of every Hermite-route module).
UNCALIBRATED = Calibration()
