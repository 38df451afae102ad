"""The sympy symbols every stage shares: the activation variable and the kernel arguments."""

from __future__ import annotations

import sympy as sp

#: The activation's single real variable.
X = sp.Symbol("x", real=True)
#: Variance of the first Gaussian input, q1 = E[u^2] > 0.
Q1 = sp.Symbol("q1", positive=True)
#: Variance of the second Gaussian input, q2 = E[v^2] > 0.
Q2 = sp.Symbol("q2", positive=True)
#: Covariance c = E[u v], |c| <= sqrt(q1 q2).
C = sp.Symbol("c", real=True)
