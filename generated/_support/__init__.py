"""What every generated dual-activation module calls at run time; imports only jax and numpy.

- ``guards``: float32-safe domain guards of K(q1, q2, c) (projection onto |rho| <= 1, floored
  variances, derivatives taken inside the domain, exact values at rho = +-1);
- ``atan2``: a vectorising atan2 (XLA's CPU atan2 is a scalar libm call);
- ``piecewise``: activations with kinks, each smooth piece evaluated on its own interval;
- ``hermite``: per-variance Hermite coefficients a_k(q), Mehler sums and 1-D Gaussian
  moments E[f(sqrt(q) z) f(+-sqrt(q) z)];
- ``special``: Phi, the bivariate normal CDF and Dawson's integral.

This package is the one copy of that code: ``dualcalc generate`` copies it byte for byte into
``generated/_support/``, so a generated module imports ``._support`` from its own folder and
needs no dualcalc installation, while modules executed by ``dualcalc.load`` import this very
package (the loader runs them with ``__package__ = "dualcalc.runtime"``). Edit it here, never
in a generated folder; each file may import only jax, numpy, the standard library and its
siblings (relatively).
"""
