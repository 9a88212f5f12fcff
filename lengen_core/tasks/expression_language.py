"""A small language for a task's answer: an expression of the input sequence ``x`` (issue 24).

``sorted(x)``, ``x[::-1]``, ``count(x, 'a') % 10``, ``[a for a in x if a != 'b']``, ``cumsum(x) % 2``,
``x + x``, ``majority(x)``: Python's expression syntax, a fixed set of sequence operations, and nothing else.

Why our own interpreter. The well-kept safe evaluators (simpleeval, asteval) are built for arithmetic
over a namespace: simpleeval has no comprehensions over sequences with bounded size, asteval runs
statements and exposes far more of Python than a task needs. What a task needs is small and must be
bounded in time and size per example, so this module parses with Python's own ``ast`` and accepts only an
allow-list of node kinds, names and functions, then compiles the tree to closures that count every step.

The language
    Values: integers, ``True``/``False``, symbols (``'a'``..``'z'``, ``'s0'``..``'s127'``, or a punctuation
    token such as ``'#'``) and sequences of values. The input ``x`` is a sequence of symbols, or of integers
    0-9 when every symbol of the alphabet is a digit. Symbols compare in alphabet order (``'a' < 'b'``,
    ``'s2' < 's10'``); a symbol never equals a number.

    Expressions: literals, ``x``, arithmetic ``+ - * // % **`` (``+`` and ``*`` join and repeat
    sequences, as in Python; ``- // % **`` between a sequence and a number apply to each element), comparisons (``== != < <= > >= in not in``, chained), ``and or not``, ``a if c else b``,
    indexing and slicing (negative indices and steps too), tuple and list displays, comprehensions (``[e for
    a in s if c]``, several ``for``s, tuple targets such as ``for i, a in enumerate(x)``), and calls of the
    functions below. In a coupling rule (:mod:`lengen_core.tasks.expression_task`) ``i``, the index of the
    answer token, is a name too.

    Functions: ``len sum min max abs sorted reversed count index unique cumsum cumprod zip enumerate range
    any all majority list map filter``. ``count(s, v)``: how many elements equal ``v``; ``index(s, v)``: the
    first index of ``v`` or -1; ``unique(s)``: the first occurrence of each value, in order; ``majority(s)``:
    the most common value, a tie going to the smallest (our choice: deterministic and order-free);
    ``map(lambda a: e, s)`` and ``filter(lambda a: c, s)``: a ``lambda`` is allowed there and nowhere else.
    ``min``/``max`` take one sequence or several values; ``cumsum``/``cumprod`` return the running sums or
    products; ``list`` copies a sequence (every sequence is immutable).

What is refused when the expression is made (:class:`ExpressionError`, naming the column and the rule):
attribute access (``.__class__``), any name but ``x``, ``i``, the functions and the variables the
expression binds, names starting with ``_``, keyword and star arguments, ``lambda`` outside ``map`` and
``filter`` (so nothing can call itself), assignment (``:=``), f-strings, dicts and sets, floats, strings that
are not one symbol, more than 400 characters, 200 nodes or nesting 40 deep. What is refused while it runs:
a sequence longer than 4,096 items, an integer longer than 256 bits (``9**9**9``, ``[0]*10**9`` fail before
computing), division by zero, an index out of range, a type mismatch, and more than 200,000 steps or 0.25
seconds for one example. Each is an :class:`ExpressionError`: the task turns it into a ConfigError when
the config is made, before any training.
"""

from __future__ import annotations

import ast
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lengen_core.errors import LenGenError
from lengen_core.vocab import LETTER_TOKENS, PUNCTUATION_TOKENS, SYMBOL_TOKENS, VOCAB

MAX_SOURCE_CHARS = 400
MAX_NODES = 200
MAX_DEPTH = 40
MAX_ITEMS = 4096
MAX_INT_BITS = 256
STEP_BUDGET = 200_000
SECONDS_BUDGET = 0.25

SYMBOL_NAMES: frozenset[str] = frozenset(LETTER_TOKENS + SYMBOL_TOKENS + PUNCTUATION_TOKENS)


class ExpressionError(LenGenError):
    """An expression that is not in the language, or that failed on an input; ``column`` is 1-based (None: at run time)."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column}: {message}" if column is not None else message)


@dataclass(frozen=True, order=True)
class Sym:
    """A symbol: ordered by its vocabulary id (``a < b``, ``s2 < s10``), shown by its name."""

    rank: int
    name: str = field(compare=False)

    def __repr__(self) -> str:
        return repr(self.name)


def symbol(name: str) -> Sym:
    return Sym(VOCAB.id(name), name)


Value = Any  # int | bool | Sym | tuple[Value, ...]
Env = dict[str, Value]


class Meter:
    """Steps and time of one evaluation, against :data:`STEP_BUDGET` and :data:`SECONDS_BUDGET`."""

    def __init__(self, steps: int = STEP_BUDGET, seconds: float = SECONDS_BUDGET) -> None:
        self.steps = 0
        self.limit = steps
        self.deadline = time.perf_counter() + seconds
        self.seconds = seconds

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.limit:
            raise ExpressionError(f"takes more than {self.limit:,} steps for one example")
        if self.steps & 1023 < count and time.perf_counter() > self.deadline:
            raise ExpressionError(f"takes more than {self.seconds:g} s for one example")


Node = Callable[[Env, Meter], Value]


def _counted(value: Value, meter: Meter) -> Value:
    """``value``, its items counted as steps when it is a sequence (so steps bound the memory built, too)."""
    if isinstance(value, tuple):
        meter.tick(len(value))
    return value


# -- values and their checks --------------------------------------------------------------------------------------


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "a truth value"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, Sym):
        return "a symbol"
    return "a sequence"


def _number(value: Value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExpressionError(f"{what} needs a number, got {_kind(value)}")
    return value


def _sequence(value: Value, what: str) -> tuple[Value, ...]:
    if not isinstance(value, tuple):
        raise ExpressionError(f"{what} needs a sequence, got {_kind(value)}")
    return value


def _bounded(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"a number longer than {MAX_INT_BITS} bits")
    return value


def _items(count: int) -> int:
    if count > MAX_ITEMS:
        raise ExpressionError(f"a sequence of {count:,} items; at most {MAX_ITEMS:,}")
    return count


def _truth(value: Value) -> bool:
    if isinstance(value, Sym):
        raise ExpressionError("a symbol is neither true nor false; compare it (a == 'b')")
    return bool(value)


def _add(left: Value, right: Value) -> Value:
    if isinstance(left, tuple) and isinstance(right, tuple):
        _items(len(left) + len(right))
        return left + right
    return _bounded(_number(left, "+") + _number(right, "+"))


def _multiply(left: Value, right: Value) -> Value:
    if isinstance(left, tuple) or isinstance(right, tuple):
        sequence, times = (left, right) if isinstance(left, tuple) else (right, left)
        times = _number(times, "repeating a sequence")
        _items(len(sequence) * max(times, 0))
        return sequence * times
    a, b = _number(left, "*"), _number(right, "*")
    if a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise ExpressionError(f"a number longer than {MAX_INT_BITS} bits")
    return _bounded(a * b)


def _divide(left: Value, right: Value, modulo: bool) -> int:
    a, b = _number(left, "% and //"), _number(right, "% and //")
    if b == 0:
        raise ExpressionError("division by zero")
    return a % b if modulo else a // b


def _power(left: Value, right: Value) -> int:
    base, exponent = _number(left, "**"), _number(right, "**")
    if exponent < 0:
        raise ExpressionError("a negative exponent (numbers are integers)")
    if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
        raise ExpressionError(f"a number longer than {MAX_INT_BITS} bits")
    return _bounded(base**exponent)


def _elementwise(operation: Callable[[Value, Value], Value]) -> Callable[[Value, Value], Value]:
    """``operation`` on numbers, and on each element when one side is a sequence (``cumsum(x) % 2``)."""

    def apply(left: Value, right: Value) -> Value:
        if isinstance(left, tuple) and not isinstance(right, tuple):
            return tuple(operation(item, right) for item in left)
        if isinstance(right, tuple) and not isinstance(left, tuple):
            return tuple(operation(left, item) for item in right)
        return operation(left, right)

    return apply


BINARY: dict[type, Callable[[Value, Value], Value]] = {
    ast.Add: _add,  # numbers add, sequences join
    ast.Sub: _elementwise(lambda a, b: _bounded(_number(a, "-") - _number(b, "-"))),
    ast.Mult: _multiply,  # numbers multiply, a sequence and a number repeat
    ast.FloorDiv: _elementwise(lambda a, b: _divide(a, b, modulo=False)),
    ast.Mod: _elementwise(lambda a, b: _divide(a, b, modulo=True)),
    ast.Pow: _elementwise(_power),
}


def _same_kind(left: Value, right: Value, operator: str) -> None:
    if not (isinstance(left, int) and isinstance(right, int) or type(left) is type(right)):  # True and 1 are both numbers here
        raise ExpressionError(f"{operator} compares {_kind(left)} with {_kind(right)}")


def _order(operator: str, test: Callable[[Value, Value], bool]) -> Callable[[Value, Value], bool]:
    def compare(left: Value, right: Value) -> bool:
        _same_kind(left, right, operator)
        return test(left, right)

    return compare


def equal(left: Value, right: Value) -> bool:
    """Equality that keeps kinds apart: a symbol never equals a number, ``True`` never equals 1."""
    if isinstance(left, tuple) and isinstance(right, tuple):
        return len(left) == len(right) and all(equal(a, b) for a, b in zip(left, right, strict=True))
    return _kind(left) == _kind(right) and left == right


def _contains(left: Value, right: Value) -> bool:
    return any(equal(left, item) for item in _sequence(right, "in"))


COMPARE: dict[type, Callable[[Value, Value], bool]] = {
    ast.Eq: equal,
    ast.NotEq: lambda a, b: not equal(a, b),
    ast.Lt: _order("<", lambda a, b: a < b),
    ast.LtE: _order("<=", lambda a, b: a <= b),
    ast.Gt: _order(">", lambda a, b: a > b),
    ast.GtE: _order(">=", lambda a, b: a >= b),
    ast.In: _contains,
    ast.NotIn: lambda a, b: not _contains(a, b),
}


# -- the functions ------------------------------------------------------------------------------------------------


def _extremum(name: str, pick: Callable[..., Value]) -> Callable[..., Value]:
    def extremum(meter: Meter, *arguments: Value) -> Value:
        values = _sequence(arguments[0], name) if len(arguments) == 1 else arguments
        if not values:
            raise ExpressionError(f"{name} of an empty sequence")
        meter.tick(len(values))
        first = values[0]
        for value in values[1:]:
            _same_kind(first, value, name)
        return pick(values)

    return extremum


def _sum(meter: Meter, values: Value) -> int:
    total = 0
    for value in _sequence(values, "sum"):
        meter.tick()
        total = _bounded(total + _number(value, "sum"))
    return total


def _sorted(meter: Meter, values: Value) -> tuple[Value, ...]:
    values = _sequence(values, "sorted")
    meter.tick(len(values) * max(1, len(values).bit_length()))
    for value in values[1:]:
        _same_kind(values[0], value, "sorted")
    return tuple(sorted(values))


def _running(name: str, combine: Callable[[int, int], int], start: int) -> Callable[[Meter, Value], tuple[int, ...]]:
    def running(meter: Meter, values: Value) -> tuple[int, ...]:
        out, total = [], start
        for value in _sequence(values, name):
            meter.tick()
            total = combine(total, _number(value, name))
            out.append(total)
        return tuple(out)

    return running


def _count(meter: Meter, values: Value, wanted: Value) -> int:
    values = _sequence(values, "count")
    meter.tick(len(values))
    return sum(1 for value in values if equal(value, wanted))


def _index(meter: Meter, values: Value, wanted: Value) -> int:
    for position, value in enumerate(_sequence(values, "index")):
        meter.tick()
        if equal(value, wanted):
            return position
    return -1


def _unique(meter: Meter, values: Value) -> tuple[Value, ...]:
    values = _sequence(values, "unique")
    meter.tick(len(values))
    first: dict[tuple[str, Value], Value] = {}
    for value in values:
        first.setdefault((_kind(value), value), value)
    return tuple(first.values())


def _majority(meter: Meter, values: Value) -> Value:
    values = _sequence(values, "majority")
    if not values:
        raise ExpressionError("majority of an empty sequence")
    meter.tick(len(values))
    counts = Counter((_kind(value), value) for value in values)
    top = max(counts.values())
    tied = [value for (_, value), count in counts.items() if count == top]
    for value in tied[1:]:
        _same_kind(tied[0], value, "majority")
    return min(tied)


def _range(meter: Meter, *arguments: Value) -> tuple[int, ...]:
    if not 1 <= len(arguments) <= 3:
        raise ExpressionError("range takes 1 to 3 numbers")
    bounds = [_number(argument, "range") for argument in arguments]
    if len(bounds) == 3 and bounds[2] == 0:
        raise ExpressionError("range step of 0")
    span = range(*bounds)
    _items(len(span))
    meter.tick(len(span))
    return tuple(span)


def _zip(meter: Meter, *arguments: Value) -> tuple[Value, ...]:
    sequences = [_sequence(argument, "zip") for argument in arguments]
    meter.tick(min((len(sequence) for sequence in sequences), default=0))
    return tuple(zip(*sequences, strict=False))


def _enumerate(meter: Meter, values: Value) -> tuple[Value, ...]:
    values = _sequence(values, "enumerate")
    meter.tick(len(values))
    return tuple(enumerate(values))


def _fixed(name: str, count: int, function: Callable[..., Value]) -> Callable[..., Value]:
    """``function(meter, *arguments)``, the language's function ``name``, called with exactly ``count`` arguments."""

    def call(meter: Meter, *arguments: Value) -> Value:
        if len(arguments) != count:
            raise ExpressionError(f"{name} takes {count} argument{'s' if count > 1 else ''}, got {len(arguments)}")
        return function(meter, *arguments)

    return call


def _truths(name: str, combine: Callable[[list[bool]], bool]) -> Callable[[Meter, Value], bool]:
    def truths(meter: Meter, values: Value) -> bool:
        values = _sequence(values, name)
        meter.tick(len(values))
        return combine([_truth(value) for value in values])

    return truths


_FIXED_ARITY: dict[str, tuple[int, Callable[..., Value]]] = {  # name -> (how many arguments, the function)
    "len": (1, lambda meter, values: len(_sequence(values, "len"))),
    "sum": (1, _sum),
    "abs": (1, lambda meter, value: abs(_number(value, "abs"))),
    "sorted": (1, _sorted),
    "reversed": (1, lambda meter, values: _sequence(values, "reversed")[::-1]),  # the caller counts its items
    "count": (2, _count),
    "index": (2, _index),
    "unique": (1, _unique),
    "cumsum": (1, _running("cumsum", lambda a, b: _bounded(a + b), 0)),
    "cumprod": (1, _running("cumprod", lambda a, b: _multiply(a, b), 1)),
    "enumerate": (1, _enumerate),
    "any": (1, _truths("any", any)),
    "all": (1, _truths("all", all)),
    "majority": (1, _majority),
    "list": (1, lambda meter, values: _sequence(values, "list")),
}
FUNCTIONS: dict[str, Callable[..., Value]] = {
    **{name: _fixed(name, count, function) for name, (count, function) in _FIXED_ARITY.items()},
    "min": _extremum("min", min),
    "max": _extremum("max", max),
    "zip": _zip,
    "range": _range,
}
HIGHER_ORDER = ("map", "filter")
FUNCTION_NAMES: tuple[str, ...] = tuple(sorted([*FUNCTIONS, *HIGHER_ORDER]))


# -- the compiler -------------------------------------------------------------------------------------------------


REFUSED: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Dict: "a dict",
    ast.DictComp: "a dict",
    ast.Set: "a set",
    ast.SetComp: "a set",
    ast.Starred: "a star argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Lambda: "a lambda outside map(...) and filter(...)",
    ast.BitAnd: "bitwise operators",
    ast.BitOr: "bitwise operators",
    ast.BitXor: "bitwise operators",
    ast.LShift: "shifts",
    ast.RShift: "shifts",
    ast.Invert: "bitwise operators",
    ast.Div: "/ (numbers are integers: use //)",
    ast.MatMult: "@",
    ast.Is: "is (use ==)",
    ast.IsNot: "is not (use !=)",
}


def _refuse(node: ast.AST, what: str) -> ExpressionError:
    column = _column(node)
    if isinstance(node, ast.Attribute):  # at its dot, not at the start of what it is read from
        column = (getattr(node.value, "end_col_offset", None) or 0) + 1
        what = f"attribute access (.{node.attr[:30]})"
    return ExpressionError(f"{what} is not allowed; the language has x, numbers, symbols, sequences and {', '.join(FUNCTION_NAMES)}", column)


def _variable(name: str, node: ast.AST) -> str:
    """``name``, which a comprehension or a lambda binds: not a function's, and not starting with ``_``."""
    if name.startswith("_") or name in FUNCTIONS or name in HIGHER_ORDER:
        raise ExpressionError(f"{name[:30]!r} cannot be a variable", _column(node))
    return name


def _column(node: ast.AST) -> int | None:
    offset = getattr(node, "col_offset", None)
    return None if offset is None else offset + 1


class _Compiler:
    """Turns an allowed ``ast`` into closures ``(env, meter) -> value``; ``scope``: the names bound where a node is."""

    def compile(self, node: ast.AST, scope: frozenset[str]) -> Node:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise _refuse(node, REFUSED.get(type(node), f"{type(node).__name__}"))
        compiled: Node = method(node, scope)
        return compiled

    def _Constant(self, node: ast.Constant, scope: frozenset[str]) -> Node:
        value = node.value
        if isinstance(value, bool) or (isinstance(value, int) and value.bit_length() <= MAX_INT_BITS):
            return lambda env, meter: value
        if isinstance(value, str):
            if value.isdigit():
                raise ExpressionError(f"write the number {value} without quotes", _column(node))
            if value not in SYMBOL_NAMES:
                raise ExpressionError(f"a string must be one symbol: a-z, s0..s127 or one of {' '.join(PUNCTUATION_TOKENS)}; got {value[:20]!r}", _column(node))
            sym = symbol(value)
            return lambda env, meter: sym
        raise _refuse(node, f"the constant {type(value).__name__}" if not isinstance(value, int) else "a number that long")

    def _Name(self, node: ast.Name, scope: frozenset[str]) -> Node:
        name = node.id
        if name.startswith("_"):
            raise ExpressionError(f"names starting with _ are not allowed ({name[:30]})", _column(node))
        if name in scope:
            return lambda env, meter: env[name]
        if name in FUNCTIONS or name in HIGHER_ORDER:
            raise ExpressionError(f"{name} is a function: call it, {name}(...)", _column(node))
        raise ExpressionError(f"unknown name {name[:30]!r}; names are {', '.join(sorted(scope))} and the functions {', '.join(FUNCTION_NAMES)}", _column(node))

    def _BinOp(self, node: ast.BinOp, scope: frozenset[str]) -> Node:
        operation = BINARY.get(type(node.op))
        if operation is None:
            raise _refuse(node, REFUSED.get(type(node.op), type(node.op).__name__))
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)

        def binary(env: Env, meter: Meter) -> Value:
            meter.tick()
            return _counted(operation(left(env, meter), right(env, meter)), meter)

        return binary

    def _UnaryOp(self, node: ast.UnaryOp, scope: frozenset[str]) -> Node:
        operand = self.compile(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return lambda env, meter: not _truth(operand(env, meter))
        if isinstance(node.op, ast.USub):
            return lambda env, meter: -_number(operand(env, meter), "-")
        if isinstance(node.op, ast.UAdd):
            return lambda env, meter: _number(operand(env, meter), "+")
        raise _refuse(node, REFUSED.get(type(node.op), type(node.op).__name__))

    def _BoolOp(self, node: ast.BoolOp, scope: frozenset[str]) -> Node:
        values = [self.compile(value, scope) for value in node.values]
        is_and = isinstance(node.op, ast.And)

        def boolean(env: Env, meter: Meter) -> Value:
            result: Value = is_and
            for value in values:
                meter.tick()
                result = value(env, meter)
                if _truth(result) != is_and:
                    return result
            return result

        return boolean

    def _Compare(self, node: ast.Compare, scope: frozenset[str]) -> Node:
        tests = []
        for operator in node.ops:
            test = COMPARE.get(type(operator))
            if test is None:
                raise _refuse(node, REFUSED.get(type(operator), type(operator).__name__))
            tests.append(test)
        operands = [self.compile(operand, scope) for operand in [node.left, *node.comparators]]

        def compare(env: Env, meter: Meter) -> bool:
            left = operands[0](env, meter)
            for test, operand in zip(tests, operands[1:], strict=True):
                meter.tick()
                right = operand(env, meter)
                if isinstance(right, tuple):
                    meter.tick(len(right))
                if not test(left, right):
                    return False
                left = right
            return True

        return compare

    def _IfExp(self, node: ast.IfExp, scope: frozenset[str]) -> Node:
        test, body, orelse = (self.compile(part, scope) for part in (node.test, node.body, node.orelse))
        return lambda env, meter: body(env, meter) if _truth(test(env, meter)) else orelse(env, meter)

    def _Tuple(self, node: ast.Tuple | ast.List, scope: frozenset[str]) -> Node:
        items = [self.compile(item, scope) for item in node.elts]
        return lambda env, meter: _counted(tuple(item(env, meter) for item in items), meter)

    _List = _Tuple

    def _Subscript(self, node: ast.Subscript, scope: frozenset[str]) -> Node:
        target = self.compile(node.value, scope)
        if isinstance(node.slice, ast.Slice):
            parts = [None if part is None else self.compile(part, scope) for part in (node.slice.lower, node.slice.upper, node.slice.step)]

            def sliced(env: Env, meter: Meter) -> Value:
                sequence = _sequence(target(env, meter), "slicing")
                bounds = [None if part is None else _number(part(env, meter), "a slice") for part in parts]
                if bounds[2] == 0:
                    raise ExpressionError("slice step of 0")
                meter.tick(len(sequence))
                return sequence[slice(*bounds)]

            return sliced
        index = self.compile(node.slice, scope)

        def indexed(env: Env, meter: Meter) -> Value:
            sequence = _sequence(target(env, meter), "indexing")
            at = _number(index(env, meter), "an index")
            if not -len(sequence) <= at < len(sequence):
                raise ExpressionError(f"index {at} out of range for a sequence of {len(sequence)}")
            return sequence[at]

        return indexed

    def _targets(self, node: ast.AST) -> tuple[str, ...]:
        """The names a comprehension binds: ``a`` or ``(i, a)``."""
        if isinstance(node, ast.Name):
            return (_variable(node.id, node),)
        if isinstance(node, ast.Tuple) and node.elts and all(isinstance(item, ast.Name) for item in node.elts):
            return tuple(name for item in node.elts for name in self._targets(item))
        raise _refuse(node, "this loop target (use a name or a tuple of names)")

    def _ListComp(self, node: ast.ListComp | ast.GeneratorExp, scope: frozenset[str]) -> Node:
        loops: list[tuple[tuple[str, ...], Node, list[Node]]] = []
        for generator in node.generators:
            if generator.is_async:
                raise _refuse(node, "async")
            names = self._targets(generator.target)
            source = self.compile(generator.iter, scope)
            scope = scope | set(names)
            loops.append((names, source, [self.compile(condition, scope) for condition in generator.ifs]))
        element = self.compile(node.elt, scope)

        def comprehension(env: Env, meter: Meter) -> tuple[Value, ...]:
            out: list[Value] = []

            def run(depth: int, inner: Env) -> None:
                if depth == len(loops):
                    _items(len(out) + 1)
                    out.append(element(inner, meter))
                    return
                names, source, conditions = loops[depth]
                for item in _sequence(source(inner, meter), "a for loop"):
                    meter.tick()
                    bound = dict(inner)
                    if len(names) == 1:
                        bound[names[0]] = item
                    else:
                        parts = _sequence(item, "unpacking")
                        if len(parts) != len(names):
                            raise ExpressionError(f"cannot unpack {len(parts)} values into {len(names)} names")
                        bound.update(zip(names, parts, strict=True))
                    if all(_truth(condition(bound, meter)) for condition in conditions):
                        run(depth + 1, bound)

            run(0, env)
            return tuple(out)

        return comprehension

    _GeneratorExp = _ListComp

    def _Call(self, node: ast.Call, scope: frozenset[str]) -> Node:
        if not isinstance(node.func, ast.Name):
            self.compile(node.func, scope)  # refuses what it is: attribute access, a lambda, ...
            raise ExpressionError(f"only the functions can be called: {', '.join(FUNCTION_NAMES)}", _column(node))
        if node.func.id not in (*FUNCTIONS, *HIGHER_ORDER):
            raise ExpressionError(f"{node.func.id[:30]!r} cannot be called; the functions are {', '.join(FUNCTION_NAMES)}", _column(node))
        if node.keywords:
            raise _refuse(node, "a keyword argument")
        name = node.func.id
        if name in HIGHER_ORDER:
            return self._higher_order(node, name, scope)
        function = FUNCTIONS[name]
        arguments = [self.compile(argument, scope) for argument in node.args]

        def call(env: Env, meter: Meter) -> Value:
            meter.tick()
            return _counted(function(meter, *(argument(env, meter) for argument in arguments)), meter)

        return call

    def _higher_order(self, node: ast.Call, name: str, scope: frozenset[str]) -> Node:
        if len(node.args) != 2 or not isinstance(node.args[0], ast.Lambda):
            raise ExpressionError(f"{name} takes a lambda and a sequence: {name}(lambda a: ..., x)", _column(node))
        function = node.args[0]
        arguments = function.args
        if arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg or arguments.kwarg or arguments.defaults or len(arguments.args) != 1:
            raise ExpressionError("the lambda takes exactly one name: lambda a: ...", _column(function))
        parameter = _variable(arguments.args[0].arg, function)
        body = self.compile(function.body, scope | {parameter})
        source = self.compile(node.args[1], scope)
        keep_all = name == "map"

        def higher(env: Env, meter: Meter) -> tuple[Value, ...]:
            out = []
            for item in _sequence(source(env, meter), name):
                meter.tick()
                value = body({**env, parameter: item}, meter)
                if keep_all:
                    out.append(value)
                elif _truth(value):
                    out.append(item)
            return tuple(out)

        return higher


@dataclass(frozen=True)
class Expression:
    """A checked expression: ``evaluate(values)`` runs it with ``names`` bound, inside a fresh :class:`Meter`."""

    source: str
    names: tuple[str, ...]
    root: Node
    tree: ast.Expression

    def evaluate(self, values: dict[str, Value], meter: Meter | None = None) -> Value:
        meter = meter or Meter()
        try:
            return self.root(dict(values), meter)
        except RecursionError:
            raise ExpressionError("nests too deep to evaluate") from None
        except (TypeError, ValueError, OverflowError, ZeroDivisionError, IndexError) as error:  # a net under the checks above
            raise ExpressionError(f"fails: {str(error)[:120]}") from None

    def reads_only_length_of(self, name: str) -> bool:
        """Whether ``name`` appears only as ``len(name)``: a rule of the input's length, not of its content."""
        calls = [node for node in ast.walk(self.tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"]
        inside = {id(argument) for call in calls for argument in call.args if isinstance(argument, ast.Name) and argument.id == name}
        return all(id(node) in inside for node in ast.walk(self.tree) if isinstance(node, ast.Name) and node.id == name)


def _measure(tree: ast.AST) -> None:
    nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ExpressionError(f"more than {MAX_NODES} parts; write a shorter expression")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"nests more than {MAX_DEPTH} deep", _column(node))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


@lru_cache(maxsize=256)
def parse_expression(source: str, names: tuple[str, ...] = ("x",)) -> Expression:
    """The checked :class:`Expression` of ``source`` over the input ``names``; :class:`ExpressionError` if refused."""
    if not isinstance(source, str):
        raise ExpressionError(f"must be text, got {type(source).__name__}")
    if not source.strip():
        raise ExpressionError("is empty; write an expression of x, e.g. x[::-1]")
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"has {len(source):,} characters; at most {MAX_SOURCE_CHARS}")
    if "\n" in source.strip() or "\r" in source:
        raise ExpressionError("must be one line")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"not an expression: {error.msg}", error.offset) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"nests more than {MAX_DEPTH} deep") from None
    _measure(tree)
    root = _Compiler().compile(tree.body, frozenset(names))
    return Expression(source.strip(), names, root, tree)
