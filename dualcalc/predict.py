"""Public facade of infinite-width predictions (Neural Tangents' ``predict`` semantics).

>>> from dualcalc import nn, predict
>>> _, _, kernel_fn = nn.serial(nn.Dense(512), nn.Activation("erf"), nn.Dense(1))
>>> predict_fn = predict.gradient_descent_mse_ensemble(kernel_fn, x, y)  # doctest: +SKIP
"""

from dualcalc.learn.predict import Gaussian, gradient_descent_mse_ensemble

__all__ = ["Gaussian", "gradient_descent_mse_ensemble"]
