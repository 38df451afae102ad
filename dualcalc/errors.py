"""The project's exception types: every user-facing failure is one of these."""

from __future__ import annotations


class DualcalcError(ValueError):
    """Base class of all errors dualcalc raises on purpose."""


class ExpressionError(DualcalcError):
    """An activation text could not be understood; carries the position when known."""

    def __init__(self, message: str, text: str | None = None, position: int | None = None):
        self.message = message
        self.text = text
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        if self.text is None or self.position is None:
            return self.message
        # Control characters and line breaks are shown as '?': one character each, so the
        # caret stays aligned, and the text cannot forge extra lines in a terminal or log.
        text = "".join(c if c.isprintable() else "?" for c in self.text)
        shown = text if len(text) <= 120 else text[:117] + "..."
        caret = " " * min(self.position, len(shown)) + "^"
        return f"{self.message} (at position {self.position})\n  {shown}\n  {caret}"


class DerivationError(DualcalcError):
    """A dual activation cannot be derived (e.g. the activation is not square-integrable)."""


class NoClosedFormError(DerivationError):
    """The closed-form engine found no verified closed form for this activation."""
