"""Your own task: its answer written as an expression of the input ``x`` (issue 24).

``task.name = "expression"`` and the task is its options, so the config carries it (config id, URL,
store, ``--set task.options.answer='sorted(x)'``) and a link shares it:

- ``name``: what the user calls it (letters, digits, ``_`` and ``-``; shown beside ``expression``);
- ``answer``: the expression (:mod:`lengen_core.tasks.expression_language`); it is also the exact checker;
- ``alphabet_size`` (> 0): the input symbols are ``s0 .. s<size-1>``, as the built-in symbol tasks draw
  them; else ``symbols``: the alphabet written out, one character each (``"ab"``, ``"01"``) or separated by
  spaces (``"a b #"``). When every symbol is a digit, ``x`` holds numbers 0-9 (``cumsum(x) % 2``);
- ``distinct``: the input symbols are all different (drawn without repeats, as ``sort``'s);
- ``coupling``: optional, a rule in the same language of ``x`` and ``i`` giving the input position
  (0-based) that answer token ``i`` copies, or -1 for none: ``len(x) - 1 - i`` for reversal.

Format (ours, the one the built-in copy tasks use): ``<bos> x_1 .. x_n >`` then the answer and ``<eos>``. The
answer's value becomes tokens so: a symbol is its token; a truth value ``<yes>``/``<no>``; a number its decimal
digits, most significant first (``-`` before a negative one); a sequence its elements one token each (a number
inside a sequence must be 0-9: ``% 10`` makes it so). An answer has at most ``4 n + 16`` tokens.

With a coupling rule, input ``x_j`` (1-based) has coupled id ``j``, answer token ``i`` the id ``rule(x, i) + 1``,
and ``>``, ``<bos>`` and ``<eos>`` none (0): Cho et al.'s rule, as :mod:`lengen_core.tasks.copying`'s reverse
has it for the inputs and the answer (its ``>`` gets ``n + 1``; ours gets none, the same for every task). A
rule that reads ``x`` other than through ``len(x)`` depends on the input's content (``index(x, sorted(x)[i])``
couples sort), so its ids would hand the answer to the model: only predictive coupling may use it, as for
``sort``.

Limits, checked when the config is made (:meth:`ExpressionTask.check_length`, at the training lengths and
every evaluation length): the expression must give an answer on every probe input (:data:`PROBES` drawn
inputs and the constant and sorted ones), within 1/:data:`PROBE_SHARE` of an example's step budget (steps, not seconds: a config's validity must not depend
on the machine's load; the time limit stays as a net), so that no
example during training comes near it; an input on which it fails is shown with the message.

Theory labels: none. Which expressions have a C-RASP program (Huang et al. 2025) is not decided here: a sound
derivation would have to cover comprehensions and indexing, which C-RASP has no counterpart for.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any, ClassVar

from lengen_core.errors import ConfigError, shown
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.common import ARROW_ID, SequenceBuilder
from lengen_core.tasks.expression_language import STEP_BUDGET, Expression, ExpressionError, Meter, Sym, Value, parse_expression, symbol
from lengen_core.vocab import DIGIT_IDS, NO_ID, NUM_SYMBOLS, VOCAB, YES_ID

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
PROBES = 12
PROBE_SHARE = 8  # a probe may use at most 1/8 of an example's steps


def answer_limit(length: int) -> int:
    """The most answer tokens an example of input length ``length`` may have (before ``<eos>``)."""
    return 4 * length + 16


def _number_tokens(value: int) -> list[int]:
    digits = [DIGIT_IDS[int(digit)] for digit in str(abs(value))]
    return [VOCAB.id("-"), *digits] if value < 0 else digits


def answer_tokens(value: Value) -> list[int]:
    """The tokens an answer's value is written as (module docstring); ExpressionError if it cannot be."""
    if isinstance(value, bool):
        return [YES_ID if value else NO_ID]
    if isinstance(value, int):
        return _number_tokens(value)
    if isinstance(value, Sym):
        return [value.rank]
    tokens = []
    for position, item in enumerate(value):
        if isinstance(item, tuple):
            raise ExpressionError(f"element {position} of the answer is a sequence; an answer is flat (one token per element)")
        if isinstance(item, int) and not isinstance(item, bool) and not 0 <= item <= 9:
            raise ExpressionError(f"element {position} of the answer is {item}; a number inside a sequence must be 0-9 (use % 10)")
        tokens += answer_tokens(item)
    return tokens


def parse_symbols(text: str) -> tuple[str, ...]:
    """An alphabet written out: separated by spaces, else one character each; ConfigError names what is wrong."""
    field = "task.options.symbols"
    if not isinstance(text, str):
        raise ConfigError(field, f"must be text such as 'ab' or 's0 s1 s2', got {shown(text)}")
    names = tuple(text.split()) if " " in text.strip() else tuple(text.strip())
    if not 2 <= len(names) <= NUM_SYMBOLS:
        raise ConfigError(field, f"must name 2 to {NUM_SYMBOLS} symbols, got {len(names)}")
    if len(set(names)) != len(names):
        raise ConfigError(field, f"names a symbol twice: {shown(text)}")
    for name in names:
        if not (name.isdigit() and len(name) == 1) and name not in VOCAB.tokens[VOCAB.id("+") :]:
            raise ConfigError(field, f"{shown(name)} is not a symbol: use a-z, 0-9, s0..s127 or punctuation")
    digits = [name.isdigit() for name in names]
    if any(digits) and not all(digits):
        raise ConfigError(field, "mixes digits with other symbols; digits are numbers in x, so use all digits or none")
    return names


@register
class ExpressionTask(Task):
    """A task defined by the user: the answer as an expression of the input ``x`` (module docstring)."""

    name = "expression"
    family: ClassVar[str] = "custom"
    description = "Your own task: the answer is an expression of the input x."
    tests = "Whatever the expression asks: where does it break as x grows?"
    source = "user-defined (lengen_core/tasks/expression_task.py)"
    min_length = 1
    max_length = 512
    option_specs: ClassVar[dict[str, TaskOption]] = {
        "name": TaskOption(default="my_task", help="what you call the task (letters, digits, _ and -)"),
        "answer": TaskOption(default="x[::-1]", help="the answer as an expression of x, e.g. sorted(x), count(x, 'a') % 10"),
        "symbols": TaskOption(default="ab", help="the input alphabet written out: 'ab', '01', or 's0 s1 s2'", used_when=("alphabet_size", (0,))),
        "alphabet_size": TaskOption(default=0, minimum=0, maximum=NUM_SYMBOLS, help="> 0: the input symbols are s0 .. s<size-1> instead of symbols"),
        "distinct": TaskOption(default=False, help="the input symbols are all different"),
        "coupling": TaskOption(default="", help="optional: the input position (0-based) answer token i copies, e.g. len(x) - 1 - i"),
    }

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.expression = _parse("answer", self.options["answer"], ("x",))
        rule = self.options["coupling"]
        self.rule = _parse("coupling", rule, ("x", "i")) if rule.strip() else None
        self.has_coupling = self.rule is not None
        self.coupling_needs_answer = self.rule is not None and not self.rule.reads_only_length_of("x")
        size = self.options["alphabet_size"]
        names = tuple(f"s{index}" for index in range(size)) if size else parse_symbols(self.options["symbols"])
        self.numbers = all(name.isdigit() for name in names)
        self.alphabet: tuple[Any, ...] = tuple(int(name) for name in names) if self.numbers else tuple(symbol(name) for name in names)

    @classmethod
    def resolve_options(cls, options: Any) -> dict[str, Any]:
        resolved = super().resolve_options(options)
        for name in ("name", "answer", "symbols", "coupling"):
            if not isinstance(resolved[name], str):
                raise ConfigError(f"task.options.{name}", f"must be text, got {shown(resolved[name])}")
        if not NAME_PATTERN.match(resolved["name"]):
            raise ConfigError("task.options.name", f"must be 1-40 letters, digits, _ or -, got {shown(resolved['name'])}")
        if resolved["alphabet_size"] == 1:
            raise ConfigError("task.options.alphabet_size", "must be 0 (use symbols) or 2 to 128, got 1")
        return resolved

    @property
    def title(self) -> str:
        return f"{self.options['name']}: {self.options['answer']}"

    def check_length(self, length: int, field_name: str = "length") -> None:
        super().check_length(length, field_name)
        if self.options["distinct"] and length > len(self.alphabet):
            raise ConfigError(field_name, f"distinct symbols: at most the alphabet's {len(self.alphabet)}, got {length}")
        _probe(self, length)

    def draw(self, rng: random.Random, length: int) -> list[Any]:
        """An input of ``length`` symbols (values of the language), as :mod:`lengen_core.tasks.copying` draws them."""
        if self.options["distinct"]:
            return rng.sample(self.alphabet, length)
        return rng.choices(self.alphabet, k=length)

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_inputs(self.draw(rng, length))

    def answer_of(self, inputs: list[Any], meter: Meter | None = None) -> list[int]:
        """The answer tokens for ``inputs`` (ExpressionError when the expression fails or the answer is too long)."""
        tokens = answer_tokens(self.expression.evaluate({"x": tuple(inputs)}, meter))
        if len(tokens) > answer_limit(len(inputs)):
            raise ExpressionError(f"gives an answer of {len(tokens):,} tokens at length {len(inputs)}; at most 4 n + 16 = {answer_limit(len(inputs))}")
        return tokens

    def input_tokens(self, inputs: list[Any]) -> list[int]:
        """The tokens of input values: a digit's or a symbol's."""
        return [DIGIT_IDS[value] for value in inputs] if self.numbers else [value.rank for value in inputs]

    def from_inputs(self, inputs: list[Any]) -> Example:
        """The example for the input values ``inputs``."""
        n = len(inputs)
        answer = self.answer_of(inputs)
        builder = SequenceBuilder(coupled=self.rule is not None)
        builder.extend(self.input_tokens(inputs), 1, coupled=range(1, n + 1) if self.rule is not None else None)
        builder.add(ARROW_ID, 0)
        builder.end_prompt()
        builder.extend(answer, ANSWER_SEGMENT, coupled=self.coupled_answer_ids(inputs, len(answer)) if self.rule is not None else None)
        return builder.build(n)

    def coupled_answer_ids(self, inputs: list[Any], answer_length: int) -> list[int]:
        """Each answer token's coupled id: ``rule(x, i) + 1``, 0 for -1 (module docstring)."""
        assert self.rule is not None
        ids = []
        for index in range(answer_length):
            where = self.rule.evaluate({"x": tuple(inputs), "i": index})
            if isinstance(where, bool) or not isinstance(where, int) or not -1 <= where < len(inputs):
                raise ExpressionError(
                    f"the coupling rule gives {shown(where)} for answer token {index}; it must be an input position 0..{len(inputs) - 1} or -1"
                )
            ids.append(where + 1)
        return ids

    def max_sequence_length(self, length: int) -> int:
        return length + 3 + _probe(self, length)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["title"] = self.title
        return described


def _parse(option: str, source: str, names: tuple[str, ...]) -> Expression:
    try:
        return parse_expression(source, names)
    except ExpressionError as error:
        raise ConfigError(f"task.options.{option}", str(error)) from None


def _probe(task: ExpressionTask, length: int) -> int:
    """The longest answer over the probe inputs at ``length``; ConfigError naming a probe input that fails."""
    key = tuple(sorted(task.options.items()))
    return _probe_cached(key, length)


@lru_cache(maxsize=1024)
def _probe_cached(options: tuple[tuple[str, Any], ...], length: int) -> int:
    task = ExpressionTask(dict(options))
    rng = random.Random(length)
    inputs = [task.draw(rng, length) for _ in range(PROBES)]
    ordered = sorted(task.alphabet)
    if not task.options["distinct"]:
        inputs += [[ordered[0]] * length, [ordered[-1]] * length]
    inputs.append(sorted(task.draw(rng, length)))
    longest = 0
    for values in inputs:
        where = f"at length {length}, on x = {VOCAB.render(task.input_tokens(values[:12]))}{' ...' if length > 12 else ''}"
        meter = Meter(steps=STEP_BUDGET // PROBE_SHARE)  # steps, not seconds: whether a config is valid never depends on the machine's load
        try:
            answer = task.answer_of(values, meter)
        except ExpressionError as error:
            budget = " (the limit for a probe, 1/8 of an example's, so training never meets it)" if meter.steps > meter.limit else ""
            raise ConfigError("task.options.answer", f"{where}: {error.message}{budget}") from None
        if task.rule is not None:
            try:
                task.coupled_answer_ids(values, len(answer))
            except ExpressionError as error:
                raise ConfigError("task.options.coupling", f"{where}: {error.message}") from None
        longest = max(longest, len(answer))
    return longest
