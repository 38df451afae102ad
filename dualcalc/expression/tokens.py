"""Tokenizer for the activation language: text -> a list of positioned tokens, no evaluation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dualcalc.errors import ExpressionError

#: Longest accepted expression text.
MAX_TEXT_LENGTH = 2000

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")", ",", "=")


@dataclass(frozen=True)
class Token:
    """One lexical unit: kind is 'number', 'name', 'op' or 'end'."""

    kind: str
    text: str
    position: int


def tokenize(text: str) -> list[Token]:
    """Split activation text into tokens, rejecting anything outside the whitelist."""
    if not isinstance(text, str):
        raise ExpressionError(f"an activation must be given as text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters long; at most {MAX_TEXT_LENGTH} are allowed"
        )
    _reject_unprintable(text)
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        number = _NUMBER.match(text, i)
        if number:
            tokens.append(Token("number", number.group(), i))
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name:
            if name.group().startswith("_") or "__" in name.group():
                raise ExpressionError(
                    f"names with leading or double underscores are not allowed: {name.group()!r}",
                    text,
                    i,
                )
            tokens.append(Token("name", name.group(), i))
            i = name.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        raise ExpressionError(_describe_bad_character(ch), text, i)
    tokens.append(Token("end", "", len(text)))
    return tokens


def _reject_unprintable(text: str) -> None:
    for i, ch in enumerate(text):
        if ch == "\x00":
            raise ExpressionError("NUL character is not allowed", text.replace("\x00", "?"), i)
        if not (ch.isprintable() or ch in " \t\n\r"):
            shown = "".join(c if c.isprintable() else "?" for c in text)
            raise ExpressionError(f"non-printable character {ch!r} is not allowed", shown, i)


def _describe_bad_character(ch: str) -> str:
    if ch in "'\"":
        return "strings are not allowed in an activation"
    if ch == ".":
        return "attribute access ('.') is not allowed; write numbers as 0.5 or 1e-3"
    if ch in "[]{}":
        return f"'{ch}': brackets other than ( ) are not allowed"
    if ch == ":":
        return "':' is not allowed (no lambdas, slices or annotations)"
    if ch == ";":
        return "';' is not allowed: write a single expression"
    return f"unexpected character {ch!r}; allowed: numbers, x, names, + - * / ** ^ ( ) ,"
