"""Generated dual-activation modules: ``from generated import gelu`` from the repo root.

Every other ``*.py`` file here is written by ``dualcalc generate`` / ``dualcalc derive`` and
recorded with its sha256 in ``index.json``; do not edit them by hand (``dualcalc.load``
refuses a file whose hash does not match). Regenerate with ``dualcalc generate --all``.
"""
