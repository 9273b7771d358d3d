"""Safe arithmetic for the calculator tool: an `ast` walk over numbers and operators, never `eval`.

Everything that is not a number literal, `+ - * / // % **`, unary minus/plus or parentheses is
refused by name. Sizes are bounded so a model cannot make the server compute a huge number.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 1000
MAX_RESULT_BITS = 4096  # about 1,233 decimal digits

Number = int | float


class CalculationError(ValueError):
    """The expression is not allowed or has no finite real result; the message says why."""


def _power(base: Number, exponent: Number) -> Number:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculationError(f"exponent larger than {MAX_EXPONENT}")
    # Checked before computing: |base ** exponent| has more than exponent * (bits(base) - 1) bits.
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent * (abs(base).bit_length() - 1) > MAX_RESULT_BITS
    ):
        raise CalculationError("result too large")
    result: Number | complex = base**exponent
    if isinstance(result, complex):
        raise CalculationError("result is not a real number")
    return result


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
ALLOWED = "numbers, + - * / // % **, unary minus and parentheses"


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression such as `-(2 + 3) ** 2 / 4`; CalculationError if the
    expression is not plain arithmetic, too long, too large, or divides by zero."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalculationError(f"not an arithmetic expression; use {ALLOWED}") from exc
    try:
        return _evaluate(tree.body)
    except ZeroDivisionError as exc:
        raise CalculationError("division by zero") from exc
    except OverflowError as exc:
        raise CalculationError("result too large") from exc


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise CalculationError(f"{_describe(node)} not allowed; use {ALLOWED}")
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        return _checked(_BINARY[type(node.op)](left, right))
    raise CalculationError(f"{_describe(node)} not allowed; use {ALLOWED}")


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculationError("result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("result too large")
    return value


def _describe(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r} is"
    if isinstance(node, ast.Call):
        return "function calls are"
    if isinstance(node, ast.Attribute):
        return "attribute access is"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        return "^ (bitwise xor; write ** for a power) is"
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return f"the operator {type(node.op).__name__} is"
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r} is"
    return f"{type(node).__name__} is"


def format_number(value: Number) -> str:
    """`4`, `0.5`, `2` for 2.0 (whole floats lose the `.0` while exact), `1e+20` for big floats."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
