"""What the Attention and Position IDs pages show, as plain data (no Streamlit, no figures).

- examples: one drawn from the evaluation stream, or built from tokens a user
  typed, validated with an :class:`ExampleInputError` that names what is wrong
  (unknown token, wrong shape for the task, longer than the model's position range);
- position ids: the ids each scheme gives an example's tokens, in its training
  and evaluation views, and which tokens are coupled;
- model inspection: decode an example greedily, then rerun the decoded sequence
  with ``return_attention=True`` to collect per-layer attention maps and HSA
  chunk selections (and the chunk weights per query, for the chunk view).

Token labels are ``"<index>:<token>"`` so that repeated tokens stay distinct
categories on a chart axis. The figures are drawn by :mod:`pages.inspection`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lengen_core.batching import collate
from lengen_core.config import PositionConfig, RunConfig
from lengen_core.data import ExampleSource, stream_rng, stream_seed
from lengen_core.errors import ConfigError, LenGenError, shown
from lengen_core.evaluation import decoding_inputs, greedy_decode, wrong_prefix_positions
from lengen_core.models.transformer import Transformer
from lengen_core.positions import build_scheme
from lengen_core.tasks.base import Example, Task
from lengen_core.vocab import EOS_ID, VOCAB, is_task_marker

# --------------------------------------------------------------------------- examples

MAX_TYPED_CHARS = 20_000  # a typed prompt or answer; the inspector draws at most 1024 tokens anyway


class ExampleInputError(LenGenError, ValueError):
    """A user-supplied example (or length) cannot be used; the message says why."""


def token_kind(token: str) -> str:
    """Coarse class of a token: ``digit``, ``symbol`` (s0..), ``letter``, ``hint`` (h0..) or the token itself."""
    if token.isdigit() and len(token) == 1:
        return "digit"
    if re.fullmatch(r"s\d+", token):
        return "symbol"
    if re.fullmatch(r"h\d+", token):
        return "hint"
    if len(token) == 1 and token.isalpha():
        return "letter"
    return token


def parse_tokens(text: str, what: str = "prompt") -> list[int]:
    """Token ids of whitespace-separated tokens; unknown tokens raise :class:`ExampleInputError`.

    ``"<bos> 1 2 + 3 ="`` -> ids. Commas between tokens are not separators
    (``,`` is a token), so only whitespace splits.
    """
    if len(text) > MAX_TYPED_CHARS:
        raise ExampleInputError(f"the {what} has {len(text):,} characters; type at most {MAX_TYPED_CHARS:,}")
    words = text.split()
    unknown = [(position, word) for position, word in enumerate(words) if word not in VOCAB._ids]
    if unknown:
        position, word = unknown[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ExampleInputError(
            f"unknown token {shown(word)} at position {position} of the {what}{more}; tokens are separated by spaces "
            f"and must be in the vocabulary: digits 0-9, letters a-z, symbols s0..s127, punctuation "
            f"{' '.join(t for t in VOCAB.tokens if len(t) == 1 and not t.isalnum())}, <bos>, <eos>, <yes>, <no>"
        )
    return [VOCAB.id(word) for word in words]


def render_tokens(token_ids: Sequence[int]) -> str:
    """Space-separated tokens (the format :func:`parse_tokens` reads back)."""
    return VOCAB.render(token_ids)


def token_labels(token_ids: Sequence[int]) -> list[str]:
    """Unique axis labels ``"<index>:<token>"``."""
    return [f"{index}:{VOCAB.token(token)}" for index, token in enumerate(token_ids)]


def generated_example(source: ExampleSource, length: int, index: int = 0, eval_seed: int = 0) -> Example:
    """The ``index``-th example at ``length`` of the evaluation stream (the one sweeps score)."""
    task = source.task
    if length < task.min_length or length > task.max_length:
        raise ExampleInputError(f"length: task {task.name!r} supports lengths {task.min_length}..{task.max_length}, got {length}")
    rng = stream_rng("eval", eval_seed, task.name, length)
    example = None
    for _ in range(index + 1):
        example = source.sample(rng, length)
    assert example is not None
    return example


@dataclass(frozen=True)
class TypedExample:
    """An example built from typed tokens.

    ``truth_known`` is False when no answer was typed: the answer tokens are then
    a placeholder with the right shape (taken from a task example with the same
    structure) and only set the decoding budget.
    """

    example: Example
    truth_known: bool


def _kinds(token_ids: Sequence[int]) -> list[str]:
    return [token_kind(VOCAB.token(token)) for token in token_ids]


def _shape_mismatch(typed: Sequence[int], template: Sequence[int]) -> str | None:
    """Why ``typed`` does not have the structure of ``template`` (None if it does)."""
    if len(typed) != len(template):
        return f"it has {len(typed)} tokens where a task example of this shape has {len(template)}"
    for position, (mine, theirs) in enumerate(zip(_kinds(typed), _kinds(template))):
        if mine != theirs:
            return f"token {position} is {VOCAB.token(typed[position])!r} but the task expects a {theirs} there"
    return None


def typed_example(source: ExampleSource, prompt_text: str, answer_text: str = "", *, hint: Example | None = None, samples_per_length: int = 24) -> TypedExample:
    """Build an :class:`Example` from a typed prompt (and optional expected answer).

    Tasks have no parser, so the annotations (segments, coupled ids, digit
    significance) are taken from a task example with the same structure: same
    number of tokens, and the same kind of token (digit, symbol, letter, or the
    exact separator) at every place. ``hint`` (e.g. the example the text was
    pre-filled from) is tried first. The typed answer, if any, becomes the truth
    (without ``<eos>``, which is appended). For a mixture run's source the task's
    marker is put after ``<bos>`` when the prompt does not start with a marker.
    """
    prompt = parse_tokens(prompt_text, "prompt")
    answer = parse_tokens(answer_text, "answer")
    if not prompt:
        raise ExampleInputError("the prompt is empty: type its tokens separated by spaces, starting with <bos>")
    if VOCAB.token(prompt[0]) != "<bos>":
        prompt = [VOCAB.id("<bos>")] + prompt
    if source.marker_id is not None and (len(prompt) < 2 or not is_task_marker(prompt[1])):
        prompt = prompt[:1] + [source.marker_id] + prompt[1:]  # a mixture run's examples name their task after <bos>
    if answer and answer[-1] == EOS_ID:
        answer = answer[:-1]
    if EOS_ID in prompt or EOS_ID in answer:
        raise ExampleInputError("<eos> may only end the answer; remove it from the middle")

    task = source.task
    best_reason: str | None = None
    reference: Example | None = None

    def candidates():
        if hint is not None:
            yield hint
        rng = stream_rng("typed-example-template", task.name)
        top = min(task.max_length, 2 * len(prompt) + 2)
        for length in range(task.min_length, top + 1):
            for _ in range(samples_per_length):
                try:
                    yield source.sample(rng, length)
                except ConfigError:
                    break

    prompt_matches: list[Example] = []
    for candidate in candidates():
        reason = _shape_mismatch(prompt, candidate.prompt)
        if reference is None or abs(len(candidate.prompt) - len(prompt)) < abs(len(reference.prompt) - len(prompt)):
            reference = candidate
            best_reason = reason
        if reason is None:
            if reference is not candidate and _shape_mismatch(prompt, reference.prompt) is not None:
                reference = candidate
            prompt_matches.append(candidate)
            if not answer or _shape_mismatch(answer, candidate.answer_without_eos) is None:
                return _assemble(candidate, prompt, answer, source)
            if len(prompt_matches) >= 200:
                break
    if prompt_matches:
        lengths = sorted({len(m.answer_without_eos) for m in prompt_matches})
        template = prompt_matches[0]
        reason = _shape_mismatch(answer, template.answer_without_eos)
        if len(answer) not in lengths:
            reason = f"it has {len(answer)} tokens but for this prompt the task's answers have {' or '.join(map(str, lengths))}"
        raise ExampleInputError(
            f"the answer does not fit the prompt: {reason} (e.g. {shown(render_tokens(template.answer_without_eos), 200)}); "
            "leave it empty to let the model answer without a truth"
        )
    example_text = render_tokens(reference.prompt) if reference is not None else "?"
    raise ExampleInputError(f"the prompt is not a {task.name!r} example: {best_reason}. A valid prompt looks like {shown(example_text, 200)}")


def _assemble(template: Example, prompt: Sequence[int], answer: Sequence[int], source: ExampleSource) -> TypedExample:
    truth_known = bool(answer) or not template.answer_without_eos
    answer_tokens = tuple(answer) if truth_known else template.answer_without_eos
    example = Example(
        prompt=tuple(prompt),
        answer=tuple(answer_tokens) + (EOS_ID,),
        length=template.length,
        segment_ids=template.segment_ids,
        coupled_ids=template.coupled_ids,
        digit_significance=template.digit_significance,
        meta={"typed": True},
    )
    if template.prefix_targets is not None and len(example.prompt) > 1 and not is_task_marker(example.prompt[1]):
        example = source.task.with_prefix_targets(example, huang_labels=source.member_prefixes)  # the typed string's own labels
    return TypedExample(example, truth_known)


def check_fits_model(example: Example, config: RunConfig) -> None:
    """Refuse an example the model cannot take: ids beyond its position range or absent annotations."""
    scheme = build_scheme(config.positions)
    max_position = config.positions.max_position
    n = len(example.tokens)
    if scheme.rule in ("index", "randomized") and (scheme.encoding == "learned" or scheme.rule == "randomized"):
        if n > max_position:
            raise ExampleInputError(
                f"the example has {n} tokens (prompt + answer) but the model has only {max_position} positions "
                f"(positions.max_position = {max_position}); pick a shorter example"
            )
    if scheme.rule in ("coupled", "abacus"):
        values = example.coupled_ids if scheme.rule == "coupled" else example.digit_significance
        if values is None:
            raise ExampleInputError(
                f"scheme {scheme.name!r} needs {'coupling ids' if scheme.rule == 'coupled' else 'digit significances'} the example does not have"
            )
        if max(values) >= max_position:
            raise ExampleInputError(
                f"the example needs position id {max(values)} but the model's positions go up to {max_position - 1} "
                f"(positions.max_position = {max_position}); pick a shorter example"
            )
    limit = 1024
    if n > limit:
        raise ExampleInputError(f"the example has {n} tokens; the inspector draws at most {limit}")


# --------------------------------------------------------------------------- position ids


def position_ids_for(example: Example, position_config: PositionConfig, *, training: bool, seed: int = 0) -> list[int]:
    """The ids ``position_config``'s scheme gives every token of ``example`` (training or evaluation view)."""
    scheme = build_scheme(position_config)
    generator = torch.Generator().manual_seed(stream_seed("inspect-ids", seed))
    ids = scheme.position_ids(collate([example]), training=training, generator=generator)  # [1, T]
    return [int(value) for value in ids[0]]


@dataclass(frozen=True)
class PositionRow:
    """One row of the position-id table: a scheme in one view."""

    label: str
    scheme: str
    view: str  # "train" or "eval"
    ids: tuple[int, ...]


SCHEME_VIEWS: dict[str, str] = {
    "index": "plain index (NoPE/RoPE/ALiBi/FIRE/sinusoidal/learned APE): 0, 1, 2, ...",
    "learned_offset": "learned APE with a random start offset in training",
    "randomized": "randomized positions (Ruoss et al.): a sorted random subset of 0..max_position-1",
    "coupled": "position coupling (Cho et al.): tokens with the same role share an id",
    "abacus": "Abacus (McLeish et al.): the digit's significance",
}


# view key of SCHEME_VIEWS -> (the scheme that gives those ids, its row label, the annotation it needs)
_VIEW_SCHEMES: dict[str, tuple[str, str, str | None]] = {
    "index": ("nope", "index", None),
    "learned_offset": ("learned", "learned + offset", None),
    "randomized": ("randomized", "randomized", None),
    "coupled": ("coupled", "coupled", "coupled_ids"),
    "abacus": ("abacus", "abacus", "digit_significance"),
}


def position_rows(example: Example, schemes: Sequence[str], *, max_position: int, views: Sequence[str] = ("train", "eval"), seed: int = 0) -> list[PositionRow]:
    """Rows of ids for the chosen ``schemes`` (keys of :data:`SCHEME_VIEWS`) in the chosen views.

    Schemes the example cannot use (no coupling ids / no digits) are skipped;
    views that give the same ids for a scheme (plain index) appear once.
    """
    rows: list[PositionRow] = []
    for key in schemes:
        if key not in _VIEW_SCHEMES:
            raise ValueError(f"unknown scheme view {key!r}; choose from {sorted(SCHEME_VIEWS)}")
        scheme, name, needs = _VIEW_SCHEMES[key]
        if needs is not None and getattr(example, needs) is None:
            continue
        offset = max_position if key == "learned_offset" else PositionConfig.train_offset_max
        config = PositionConfig(scheme=scheme, max_position=max_position, train_offset_max=offset)
        view_list = ("eval",) if key == "index" else tuple(views)  # plain indices look the same in both views
        for view in view_list:
            ids = position_ids_for(example, config, training=view == "train", seed=seed)
            label = name if len(view_list) == 1 else f"{name} ({'training' if view == 'train' else 'evaluation'})"
            rows.append(PositionRow(label, key, view, tuple(ids)))
    return rows


def coupled_groups(coupled_ids: Sequence[int]) -> dict[int, list[int]]:
    """``{coupled id: [token indices]}`` for ids shared by two or more tokens (id 0 = uncoupled, left out)."""
    groups: dict[int, list[int]] = {}
    for index, value in enumerate(coupled_ids):
        if value > 0:
            groups.setdefault(int(value), []).append(index)
    return {value: members for value, members in sorted(groups.items()) if len(members) > 1}


def first_mismatch(true_ids: Sequence[int], predicted_ids: Sequence[int]) -> int | None:
    """Index of the first place where the predicted ids differ from the true ones (None if none)."""
    for index, (truth, prediction) in enumerate(zip(true_ids, predicted_ids)):
        if truth != prediction:
            return index
    if len(predicted_ids) != len(true_ids):
        return min(len(true_ids), len(predicted_ids))
    return None


# --------------------------------------------------------------------------- model inspection


@dataclass
class Inspection:
    """What the model did on one example.

    tokens: the sequence that was run with attention recorded: prompt + the
        model's greedy answer (+ <eos> if it produced one), at most as long as
        prompt + true answer. position_ids: the ids used for those tokens (for
        predictive coupling, the model's own predictions in the answer).
    attention: per layer, ``[H, T, T]`` probabilities or None (HSA-only layer).
    hsa: per layer, ``{"indices": [T, H_kv, K], "weights": [T, H_kv, K]}`` or None.
    """

    example: Example
    predicted_answer: list[int]
    correct: bool | None
    tokens: list[int]
    position_ids: list[int]
    predicted_answer_ids: list[int]
    true_answer_ids: list[int]
    attention: list[np.ndarray | None] = field(default_factory=list)
    hsa: list[dict[str, np.ndarray] | None] = field(default_factory=list)
    wrong_prefixes: list[int] | None = None  # member_prefixes runs: the prefix lengths whose label the model got wrong


def layer_maps(layers: Sequence[Mapping[str, torch.Tensor] | None] | None) -> tuple[list[np.ndarray | None], list[dict[str, np.ndarray] | None]]:
    """Split ``ModelOutput.layers`` (batch of one) into attention maps ``[H, T, T]`` and HSA selections."""
    attention: list[np.ndarray | None] = []
    hsa: list[dict[str, np.ndarray] | None] = []
    for info in layers or []:
        info = info or {}
        probs = info.get("attention")
        attention.append(None if probs is None else probs[0].detach().float().cpu().numpy())
        if "hsa_indices" in info and "hsa_weights" in info:
            hsa.append(
                {
                    "indices": info["hsa_indices"][0].detach().cpu().numpy(),  # [T, H_kv, K]
                    "weights": info["hsa_weights"][0].detach().float().cpu().numpy(),  # [T, H_kv, K]
                }
            )
        else:
            hsa.append(None)
    return attention, hsa


@torch.no_grad()
def inspect_example(model: Transformer, example: Example, task: Task, *, truth_known: bool = True, seed: int = 0, score_prefixes: bool = False) -> Inspection:
    """Greedy-decode ``example``, then run prompt + decoded answer once with attention recorded.

    ``score_prefixes`` (a ``task.supervision = member_prefixes`` run, whose sweep scores every
    prefix): the example is correct only when the output after every labelled prompt token is
    its prefix's label too, and ``wrong_prefixes`` lists the prefixes it got wrong.
    """
    decoded = greedy_decode(model, [example], seed=seed)
    answer = decoded.answers[0]
    scheme = model.scheme
    _, slot_ids = decoding_inputs(scheme, [example], seed)  # [1, P + A]: the ids greedy_decode gave every slot
    all_ids = slot_ids[0].tolist()
    prompt_length = len(example.prompt)
    tokens = (list(example.prompt) + list(answer) + [EOS_ID])[: len(example.tokens)]
    position_ids = (all_ids[:prompt_length] + list(decoded.position_ids[0]))[: len(tokens)]
    if len(position_ids) < len(tokens):  # defensive: ids of the true layout for anything missing
        position_ids += all_ids[len(position_ids) : len(tokens)]
    output = model(torch.tensor([tokens]), torch.tensor([position_ids]), return_attention=True)
    attention, hsa = layer_maps(output.layers)
    correct = bool(task.is_correct(example, answer)) if truth_known else None
    wrong_prefixes = None
    if score_prefixes and example.prefix_targets is not None and decoded.prompt_predictions is not None:
        wrong_prefixes = wrong_prefix_positions(example, decoded.prompt_predictions[0])
        correct = None if correct is None else correct and not wrong_prefixes
    return Inspection(
        example=example,
        predicted_answer=list(answer),
        correct=correct,
        tokens=tokens,
        position_ids=position_ids,
        predicted_answer_ids=list(decoded.position_ids[0]),
        true_answer_ids=all_ids[prompt_length:] if not scheme.predicts_positions else _true_ids(example, model),
        attention=attention,
        hsa=hsa,
        wrong_prefixes=wrong_prefixes,
    )


def _true_ids(example: Example, model: Transformer) -> list[int]:
    """Evaluation-view ids of the answer tokens by the scheme's rule (the truth predictive coupling should hit)."""
    ids = model.scheme.position_ids(collate([example]), training=False)[0].tolist()
    return ids[len(example.prompt) :]


# --------------------------------------------------------------------------- tables


def hsa_selection_matrix(indices: np.ndarray, weights: np.ndarray, chunk_size: int, length: int | None = None) -> np.ndarray:
    """Per query token, the weight HSA put on the chunk that holds each key token.

    indices: [T, K] selected chunk indices of one head (-1 or out-of-range = no chunk);
    weights: [T, K] their chunk weights. Returns ``[T, length]`` (length defaults
    to T): entry (t, j) = sum of the weights of the selected chunks containing token j
    (chunk c covers tokens ``c*S .. c*S + S - 1``).
    """
    indices = np.asarray(indices)
    weights = np.asarray(weights, dtype=np.float64)
    if indices.shape != weights.shape or indices.ndim != 2:
        raise ValueError(f"indices and weights must both be [T, K], got {indices.shape} and {weights.shape}")
    queries = indices.shape[0]
    length = queries if length is None else length
    n_chunks = (length + chunk_size - 1) // chunk_size
    matrix = np.zeros((queries, length))
    for query in range(queries):
        for chunk, weight in zip(indices[query], weights[query]):
            if chunk < 0 or chunk >= n_chunks or not np.isfinite(weight) or weight == 0:
                continue
            start = int(chunk) * chunk_size
            matrix[query, start : min(start + chunk_size, length)] += weight
    return matrix


def hsa_query_table(indices: np.ndarray, weights: np.ndarray, chunk_size: int, query: int, head: int = 0) -> list[dict[str, Any]]:
    """The chunks query ``query`` selected (KV head ``head``), best first: chunk, token range, weight."""
    rows = []
    for chunk, weight in zip(np.asarray(indices)[query, head], np.asarray(weights)[query, head]):
        if chunk < 0 or not np.isfinite(weight):
            continue
        rows.append({"chunk": int(chunk), "tokens": f"{int(chunk) * chunk_size}..{int(chunk) * chunk_size + chunk_size - 1}", "weight": float(weight)})
    return sorted(rows, key=lambda row: -row["weight"])


def predicted_ids_table(answer_tokens: Sequence[int], true_ids: Sequence[int], predicted_ids: Sequence[int]) -> dict[str, list[str]]:
    """Columns ``answer token`` / ``true id`` / ``predicted id`` / ``match``, one row per answer position.

    ``answer_tokens`` are the generated tokens (without <eos>); position k's token is
    the k-th generated token, or <eos> right after the last one; ids missing on one
    side (answers of different lengths) are empty strings.
    """
    n = max(len(true_ids), len(predicted_ids))
    tokens = [VOCAB.token(token) for token in answer_tokens] + ["<eos>"]
    tokens = (tokens + [""] * n)[:n]
    true_column = [str(v) for v in true_ids] + [""] * (n - len(true_ids))
    predicted_column = [str(v) for v in predicted_ids] + [""] * (n - len(predicted_ids))
    match = ["✓" if a == b and a != "" else "✗" for a, b in zip(true_column, predicted_column)]
    return {"answer token": tokens, "true id": true_column, "predicted id": predicted_column, "match": match}
