"""Public facade of the scikit-learn estimators on neural kernels (needs scikit-learn).

>>> from dualcalc.sklearn import NeuralKernelRidge, SketchedKernelRidge
>>> NeuralKernelRidge("gelu", depth=2, alpha=[0.01, 0.1, 1.0]).fit(X, y)  # doctest: +SKIP
>>> SketchedKernelRidge("gelu", depth=2, n_components=4096).fit(X_big, y_big)  # doctest: +SKIP
"""

from dualcalc.learn.feature_ridge import FeatureRidge, FeatureTransformer
from dualcalc.learn.gaussian_process import NeuralKernel
from dualcalc.learn.kernel_ridge import NeuralKernelClassifier, NeuralKernelRidge
from dualcalc.learn.sketched import NeuralKernelFeatures, SketchedKernelRidge

__all__ = [
    "FeatureRidge",
    "FeatureTransformer",
    "NeuralKernel",
    "NeuralKernelClassifier",
    "NeuralKernelFeatures",
    "NeuralKernelRidge",
    "SketchedKernelRidge",
]
