"""Length sweeps: greedy autoregressive decoding, exact match with Wilson bands, breakdown length.

Accuracy is measured by decoding the answer greedily from the prompt alone;
the true answer tokens are never fed to the model (no teacher forcing). Position
ids of the generated tokens follow the scheme's rule from the prompt's structure;
for predictive position coupling the model's *own* predicted ids are fed back.
Evaluation examples come from the evaluation stream (:func:`lengen_core.data.stream_rng`),
which training never draws from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch

from lengen_core.batching import Batch, collate
from lengen_core.breakdown import Breakdown
from lengen_core.config import EvalConfig, TaskConfig
from lengen_core.data import ExampleSource, resolve_eval_lengths, stream_rng, stream_seed
from lengen_core.models.transformer import Transformer
from lengen_core.positions import PositionScheme
from lengen_core.tasks.base import Example, Task

__all__ = [
    "Decoded",
    "EvalPoint",
    "SweepResult",
    "breakdown_length",
    "decoding_inputs",
    "evaluate_lengths",
    "greedy_decode",
    "prefix_labels_right",
    "resolve_eval_lengths",
    "score",
    "sweep",
    "wilson_interval",
    "wrong_prefix_positions",
]
from lengen_core.vocab import EOS_ID

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class EvalPoint:
    """Accuracy at one length: ``n`` examples, exact match with its 95% Wilson interval."""

    length: int
    n: int
    exact_match: float
    exact_match_low: float
    exact_match_high: float
    token_accuracy: float

    def as_row(self) -> dict[str, float | int]:
        return asdict(self)


def eval_points_of(frame: pd.DataFrame) -> list[EvalPoint]:
    """The points of a stored sweep's rows (a DataFrame of :data:`lengen_core.store.EVAL_COLUMNS`, e.g.
    :meth:`RunStore.eval_curve <lengen_core.store.RunStore.eval_curve>`'s)."""
    return [
        EvalPoint(int(row.length), int(row.n), float(row.exact_match), float(row.exact_match_low), float(row.exact_match_high), float(row.token_accuracy))
        for row in frame.itertuples()
    ]


@dataclass(frozen=True)
class SweepResult:
    """A length sweep's points and breakdown. With a length search (:mod:`lengen_core.length_search`) the points
    include the searched lengths, ``breakdown_low`` / ``breakdown_high`` give the breakdown's interval, and
    ``bound_reason`` says why the search stopped without a failure (the breakdown is then a bound, "≥ L")."""

    points: list[EvalPoint]
    breakdown_length: int | None
    train_length_max: int
    threshold: float
    breakdown_low: int | None = None
    breakdown_high: int | None = None
    bound_reason: str | None = None

    @property
    def breakdown(self) -> Breakdown:
        """The sweep's breakdown as measured: its interval and bound, up to its longest tested length."""
        longest = max((point.length for point in self.points), default=None)
        return Breakdown(self.breakdown_length, self.train_length_max, self.breakdown_low, self.breakdown_high, self.bound_reason, longest)


@dataclass
class Decoded:
    """Greedy decoding of a batch: answers cut at the first <eos> (without it)."""

    answers: list[list[int]]
    position_ids: list[list[int]]  # ids used for each generated token (predicted ones for predictive coupling)
    prompt_predictions: list[list[int]] | None = None  # per example, the argmax token after each of its prompt's tokens


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return low, high


def breakdown_length(points: Sequence[EvalPoint], threshold: float, shortest_trained: int = 0) -> int | None:
    """Largest tested L >= ``shortest_trained`` with exact match >= threshold at every tested length
    from ``shortest_trained`` to L (None if the first of them fails).

    Lengths shorter than the shortest trained one are out of distribution on the other side: a run
    trained on 8..16 that fails at 4 but holds to 40 breaks down at 40. They stay on the curve and
    out of this walk (our choice; runs recorded before it counted them).
    """
    result = None
    for point in sorted(points, key=lambda p: p.length):
        if point.length < shortest_trained:
            continue
        if point.exact_match < threshold:
            break
        result = point.length
    return result


def decoding_inputs(scheme: PositionScheme, examples: Sequence[Example], seed: int) -> tuple[Batch, torch.Tensor]:
    """The left-padded prompts of ``examples`` and the evaluation-view ids of every slot, ``[B, P + A]``.

    Schemes with random ids (randomized positions) draw them from a generator
    seeded with ``seed``, here and only here, so that whoever needs the ids
    greedy decoding used (:func:`lengen_core.inspection.inspect_example`) gets the same draws.
    """
    batch = collate(examples, pad_side="left", prompt_only=True)
    generator = torch.Generator().manual_seed(seed)
    return batch, scheme.position_ids(batch, training=False, generator=generator)


@torch.no_grad()
def greedy_decode(model: Transformer, examples: Sequence[Example], *, device: torch.device | str = "cpu", seed: int = 0, use_cache: bool = True) -> Decoded:
    """Decode the answers of ``examples`` greedily from their prompts, as one batch.

    Up to ``len(true answer)`` tokens are generated per example: enough to decide
    exact match (a correct answer ends with <eos> exactly there). Prompts are
    left-padded; the model's decoder (:meth:`Transformer.start_decoding`) keeps a
    KV cache so that each step costs one token per example (``use_cache=False``
    re-runs the whole prefix each step: the slow oracle). This loop only picks
    the argmax token (and, for predictive coupling, the argmax id) and stops once
    every row has produced <eos>.
    """
    model.eval()
    if model.chunk_aligned and len({len(example.prompt) for example in examples}) > 1:
        return _decode_by_prompt_length(model, examples, device=device, seed=seed, use_cache=use_cache)
    batch, position_ids = decoding_inputs(model.scheme, examples, seed)  # ids: [B, P + A]
    prompt_width = max(len(example.prompt) for example in examples)
    answer_width = max(len(example.answer) for example in examples)
    real = batch.token_index[:, :prompt_width] >= 0  # [B, P]
    decoder = model.start_decoding(
        batch.tokens[:, :prompt_width].to(device), position_ids.to(device), key_padding_mask=None if bool(real.all()) else real.to(device), use_cache=use_cache
    )
    finished = torch.zeros(len(examples), dtype=torch.bool, device=device)
    for _ in range(answer_width):
        prediction = decoder.step()
        next_tokens = prediction.logits.argmax(dim=-1)  # [B]
        next_tokens = torch.where(finished, torch.full_like(next_tokens, EOS_ID), next_tokens)
        next_ids = None if prediction.position_logits is None else prediction.position_logits.argmax(dim=-1)  # [B]
        decoder.append(next_tokens, next_ids)
        finished |= next_tokens == EOS_ID
        if bool(finished.all()):
            break

    generated = decoder.tokens[:, prompt_width:].tolist()
    generated_ids = decoder.position_ids[:, prompt_width:].tolist()
    assert decoder.prompt_predictions is not None  # every answer has at least <eos>, so step() ran
    prompt_rows = decoder.prompt_predictions.tolist()  # [B, P], left-padded
    answers, ids, prompt_predictions = [], [], []
    for example, row, id_row, prompt_row in zip(examples, generated, generated_ids, prompt_rows):
        row = row[: len(example.answer)]  # the same budget for every example, whatever its batch
        cut = row.index(EOS_ID) if EOS_ID in row else len(row)
        answers.append(row[:cut])
        ids.append(id_row[: cut + 1])
        prompt_predictions.append(prompt_row[prompt_width - len(example.prompt) :])
    return Decoded(answers=answers, position_ids=ids, prompt_predictions=prompt_predictions)


def _decode_by_prompt_length(model: Transformer, examples: Sequence[Example], *, device: torch.device | str, seed: int, use_cache: bool) -> Decoded:
    """Decode groups of equal prompt length separately (no padding), then restore the order."""
    groups: dict[int, list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(len(example.prompt), []).append(index)
    answers: list[list[int]] = [[] for _ in examples]
    position_ids: list[list[int]] = [[] for _ in examples]
    prompt_predictions: list[list[int]] = [[] for _ in examples]
    for indices in groups.values():
        decoded = greedy_decode(model, [examples[i] for i in indices], device=device, seed=seed, use_cache=use_cache)
        assert decoded.prompt_predictions is not None
        for slot, index in enumerate(indices):
            answers[index] = decoded.answers[slot]
            position_ids[index] = decoded.position_ids[slot]
            prompt_predictions[index] = decoded.prompt_predictions[slot]
    return Decoded(answers=answers, position_ids=position_ids, prompt_predictions=prompt_predictions)


def predicted_ids_right(model: Transformer, examples: Sequence[Example], decoded: Decoded) -> list[bool]:
    """Per example: whether the ids a predictive-coupling model predicted for its answer (and <eos>) are the rule's.

    The truth is the evaluation view of the task's coupling rule (offset 0), the
    ids the model was trained to predict; an answer cut short or run long is wrong.
    """
    batch = collate(list(examples))
    truth = model.scheme.position_ids(batch, training=False).tolist()  # [B, T]
    right = []
    for row, example, predicted in zip(truth, examples, decoded.position_ids):
        start = len(example.prompt)
        right.append(list(predicted) == row[start : start + len(example.answer)])
    return right


def wrong_prefix_positions(example: Example, prompt_prediction: Sequence[int]) -> list[int]:
    """The prompt positions whose output is not their prefix's label (``Example.prefix_targets``; position p
    holds w_p, so each is the length of a wrongly labelled prefix); none when the example has no labels."""
    if example.prefix_targets is None:
        return []
    return [position for position, (predicted, label) in enumerate(zip(prompt_prediction, example.prefix_targets)) if label > 0 and predicted != label]


def prefix_labels_right(example: Example, prompt_prediction: Sequence[int]) -> bool:
    """Whether the model's output after every labelled prompt token is that prefix's label."""
    return not wrong_prefix_positions(example, prompt_prediction)


def score(
    task: Task, examples: Sequence[Example], answers: Sequence[Sequence[int]], prompt_predictions: Sequence[Sequence[int]] | None = None
) -> tuple[int, float]:
    """(number exactly correct, mean per-token accuracy over the true answer incl. <eos>).

    With ``prompt_predictions`` (``task.supervision = member_prefixes``), an example is exactly
    correct only when its answer is and so is the output after every labelled prefix: Huang et
    al.'s exact match over every position. The per-token accuracy stays the answer's.
    """
    correct = 0
    token_hits = 0.0
    no_predictions: list[Sequence[int] | None] = [None] * len(examples)
    for example, answer, prompt_prediction in zip(examples, answers, prompt_predictions or no_predictions):
        right = bool(task.is_correct(example, answer))
        if prompt_prediction is not None:
            right = right and prefix_labels_right(example, prompt_prediction)
        correct += right
        truth = example.answer  # with <eos>
        predicted = list(answer) + [EOS_ID]
        hits = sum(1 for a, b in zip(truth, predicted) if a == b)
        token_hits += hits / len(truth)
    return correct, token_hits / max(len(examples), 1)


def evaluate_lengths(
    model: Transformer,
    source: ExampleSource,
    lengths: Sequence[int],
    *,
    samples_per_length: int,
    eval_seed: int,
    batch_size: int | Callable[[int], int] = 512,
    device: torch.device | str = "cpu",
    on_point: Callable[[EvalPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    use_cache: bool = True,
) -> list[EvalPoint]:
    """Exact-match and per-token accuracy at each length, from the evaluation stream.

    ``batch_size`` is a number or a function of the length (the cost model's
    :func:`lengen_core.costs.eval_batch_size`, which shrinks batches to fit memory).
    ``should_stop`` is asked between batches: once it says stop, the length
    being scored is kept with the examples scored so far (its ``n`` says how
    many) and no further length is started.

    With ``task.supervision = member_prefixes`` a length may have only a few strings (the
    prefixes of members: for (aa)*, (abab)* and Tomita 1 exactly one), so repeated draws are
    scored once and ``n`` is the number of distinct strings (our choice: the interval then says
    how little one string shows). Other tasks score every draw, as they always did.
    """
    points = []
    for length in lengths:
        if should_stop is not None and should_stop():
            break
        rng = stream_rng("eval", eval_seed, source.task.name, length)
        examples = source.sample_many(rng, length, samples_per_length)
        if source.member_prefixes:  # few strings at a length (one for (aa)*: a^n): n counts distinct ones
            examples = list({example.tokens: example for example in examples}.values())
        size = max(1, batch_size(length) if callable(batch_size) else batch_size)
        correct, scored = 0, 0
        token_accuracy_sum = 0.0
        for offset in range(0, len(examples), size):
            if scored and should_stop is not None and should_stop():
                break
            chunk = examples[offset : offset + size]
            decoded = greedy_decode(model, chunk, device=device, seed=stream_seed("eval-ids", eval_seed, length, offset), use_cache=use_cache)
            chunk_correct, chunk_token_accuracy = score(
                source.task, chunk, decoded.answers, decoded.prompt_predictions if source.scores_prompt_labels else None
            )
            correct += chunk_correct
            scored += len(chunk)
            token_accuracy_sum += chunk_token_accuracy * len(chunk)
        low, high = wilson_interval(correct, scored)
        point = EvalPoint(length, scored, correct / scored, low, high, token_accuracy_sum / scored)
        points.append(point)
        if on_point is not None:
            on_point(point)
    return points


def sweep(
    model: Transformer,
    task_config: TaskConfig,
    eval_config: EvalConfig,
    *,
    device: torch.device | str = "cpu",
    lengths: Sequence[int] | None = None,
    on_point: Callable[[EvalPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    use_cache: bool = True,
    batch_size: int | Callable[[int], int] | None = None,
    part: str = "",
) -> SweepResult:
    """The full length sweep of a trained model with its breakdown length.

    ``batch_size`` defaults to ``eval_config.batch_size`` (see :func:`evaluate_lengths`).
    ``part`` names the task of a mixture to test ("" = the main task); its
    examples carry the marker and its lengths follow its own training range.
    """
    source = ExampleSource(task_config)
    if part:
        source = source.part(part)
        task_config = source.config
    lengths = list(lengths) if lengths is not None else resolve_eval_lengths(task_config, eval_config, source.task)
    points = evaluate_lengths(
        model,
        source,
        lengths,
        samples_per_length=eval_config.samples_per_length,
        eval_seed=eval_config.seed,
        batch_size=eval_config.batch_size if batch_size is None else batch_size,
        device=device,
        on_point=on_point,
        should_stop=should_stop,
        use_cache=use_cache,
    )
    return SweepResult(
        points=points,
        breakdown_length=breakdown_length(points, eval_config.threshold, task_config.train_length_min),
        train_length_max=task_config.train_length_max,
        threshold=eval_config.threshold,
    )
