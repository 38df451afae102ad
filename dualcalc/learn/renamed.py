"""Parameters renamed to the public vocabulary: the previous spelling, honoured with a warning.

The estimators keep both parameters in ``__init__`` (the old one defaulting to None), so
``get_params`` and ``clone`` see exactly what the user passed; the old spelling is resolved
here, when the estimator uses it (``fit``, ``transform``, a kernel call), for one release.
"""

from __future__ import annotations

import warnings
from typing import Any

from dualcalc.errors import DualcalcError


def renamed_value(
    owner: str, old_name: str, old_value: Any, new_name: str, new_value: Any, new_default: Any
) -> Any:
    """new_value, or old_value (when given, with a DeprecationWarning) if new_value is unset."""
    if old_value is None:
        return new_value
    if new_value != new_default:
        raise DualcalcError(
            f"{owner}: give {new_name}= only ({old_name}= is its deprecated spelling), "
            f"got {old_name}={old_value!r} and {new_name}={new_value!r}"
        )
    warnings.warn(
        f"{owner}: {old_name}= is deprecated and will be removed in the next release; "
        f"use {new_name}= instead",
        DeprecationWarning,
        stacklevel=4,
    )
    return old_value


def estimator_get(estimator: Any) -> Any:
    """The estimator's ``get`` ("nngp" / "ntk"), or its deprecated ``kernel`` if that was set."""
    name = type(estimator).__name__
    return renamed_value(name, "kernel", estimator.kernel, "get", estimator.get, "ntk")


def estimator_progress(estimator: Any) -> bool | None:
    """The estimator's ``progress``, or ``bool(verbose)`` if the deprecated ``verbose`` was set."""
    name = type(estimator).__name__
    verbose = estimator.verbose
    old = None if verbose is None else bool(verbose)
    return renamed_value(name, "verbose", old, "progress", estimator.progress, False)
