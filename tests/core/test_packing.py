"""Packed training rows (``train.packing``): the same examples, ids, loss and gradient as unpacked rows, less padding."""

from __future__ import annotations

import pytest
import torch

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, RunConfig, TaskConfig, TrainConfig
from lengen_core.errors import ConfigError
from lengen_core.evaluation import sweep
from lengen_core.models import build_model
from lengen_core.models.attention import causal_allowed_mask, log_length_factor
from lengen_core.positions import build_scheme
from lengen_core.training import BatchSource, compute_loss, first_fit_rows, train

# (scheme, task, extra changes): every id rule and encoding family, distractor rows and log scaling.
CASES = [
    ("coupled", "reverse", {}),
    ("predictive_coupled", "reverse", {}),
    ("nope", "reverse", {}),
    ("learned", "copy_unique", {}),
    ("sinusoidal", "sort", {}),
    ("rope", "reverse", {}),
    ("alibi", "reverse", {}),
    ("fire", "reverse", {}),
    ("randomized", "reverse", {}),
    ("abacus", "addition", {}),
    ("coupled", "reverse", {"train.distractor_examples": 2, "model.length_scaling": "log"}),
    ("learned", "dyck_1", {"task.supervision": "every_prefix", "train.distractor_examples": 1}),  # prefix labels on prompt tokens
]


def small(scheme: str, task: str, packing: str, **changes: object) -> RunConfig:
    return RunConfig().replace(
        **{
            "task.name": task,
            "task.train_length_min": 1,
            "task.train_length_max": 8,
            "positions.scheme": scheme,
            "positions.max_position": 128,
            "model.n_layers": 2,
            "model.n_heads": 2,
            "model.d_model": 32,
            "model.d_ff": 64,
            "train.batch_size": 24,
            "train.packing": packing,
            "train.device": "cpu",
            **changes,
        }
    )


def per_example(prepared) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Each example's (inputs, targets, position ids) as the trainer sees them, in example order."""
    if prepared.example_ids is None:
        rows = []
        for row in range(prepared.inputs.shape[0]):
            length = int((prepared.targets[row] != -100).nonzero().max()) + 1  # the last input is the one before <eos>
            rows.append(tuple(tuple(t[row, :length].tolist()) for t in (prepared.inputs, prepared.targets, prepared.position_ids)))
        return rows
    out = []
    for example in range(prepared.examples):
        where = prepared.example_ids == example  # [R, W]
        row = int(where.any(dim=1).nonzero()[0])
        columns = where[row].nonzero().flatten()
        assert where.sum() == columns.numel(), "an example is split over rows"
        assert torch.equal(columns, torch.arange(int(columns[0]), int(columns[0]) + columns.numel())), "an example is not contiguous"
        out.append(tuple(tuple(t[row, columns].tolist()) for t in (prepared.inputs, prepared.targets, prepared.position_ids)))
    return out


@pytest.mark.parametrize(("scheme", "task", "changes"), CASES)
def test_packed_rows_hold_the_same_examples_with_the_same_ids_in_fewer_rows(scheme, task, changes) -> None:
    unpacked, packed = BatchSource(small(scheme, task, "off", **changes), 3), BatchSource(small(scheme, task, "on", **changes), 3)
    for _ in range(3):  # the streams stay in step: the same draws, batch after batch
        plain, dense = unpacked.next(), packed.next()
        assert plain.example_ids is None and dense.example_ids is not None
        assert per_example(dense) == per_example(plain)
        assert dense.answer_tokens == plain.answer_tokens and dense.real_tokens == plain.real_tokens
        assert dense.inputs.shape[1] == plain.inputs.shape[1] and dense.inputs.shape[0] < plain.inputs.shape[0]
        assert int((dense.example_ids >= 0).sum()) == plain.real_tokens  # every real token once, nothing else


@pytest.mark.parametrize(("scheme", "task", "changes"), CASES)
def test_a_packed_step_has_the_unpacked_loss_and_gradient(scheme, task, changes) -> None:
    config = small(scheme, task, "off", **changes)
    torch.manual_seed(0)
    model = build_model(config.model, build_scheme(config.positions))
    results = []
    for packing in ("off", "on"):
        model.zero_grad()
        step = compute_loss(model, BatchSource(config.replace(**{"train.packing": packing}), 5).next(), torch.device("cpu"))
        step.loss.backward()
        results.append((step, [parameter.grad.clone() for parameter in model.parameters()]))
    (plain, plain_grads), (dense, dense_grads) = results
    torch.testing.assert_close(dense.loss, plain.loss, rtol=1e-5, atol=1e-6)
    assert (dense.examples_correct, dense.examples) == (plain.examples_correct, plain.examples)
    for got, want in zip(dense_grads, plain_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_a_packed_row_gives_each_example_the_logits_it_has_alone() -> None:
    config = small("rope", "reverse", "on", **{"model.length_scaling": "log"})
    torch.manual_seed(1)
    model = build_model(config.model, build_scheme(config.positions)).eval()
    first, second = torch.randint(3, 20, (1, 5)), torch.randint(3, 20, (1, 7))
    row = torch.cat([first, second, torch.zeros(1, 2, dtype=torch.long)], dim=1)  # [1, 14]: two examples and padding
    ids = torch.cat([torch.arange(5), torch.arange(7), torch.zeros(2, dtype=torch.long)])[None]
    segments = torch.tensor([[0] * 5 + [1] * 7 + [-1] * 2])
    with torch.no_grad():
        packed = model(row, ids, segment_ids=segments).logits
        torch.testing.assert_close(packed[:, :5], model(first, torch.arange(5)[None]).logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(packed[:, 5:12], model(second, torch.arange(7)[None]).logits, rtol=1e-5, atol=1e-5)


def test_segment_mask_and_log_factor_count_only_the_tokens_own_example() -> None:
    segments = torch.tensor([[0, 0, 0, 1, 1, -1]])
    allowed = causal_allowed_mask(6, 6, None, torch.device("cpu"), segments)[0, 0]
    assert allowed.sum(-1).tolist() == [1, 2, 3, 1, 2, 1]
    assert not allowed[3, :3].any() and not allowed[5, :5].any()
    factor = log_length_factor(6, 6, None, torch.device("cpu"), segments)[0, 0, :, 0]
    torch.testing.assert_close(factor, torch.tensor([1.0, 2, 3, 1, 2, 1]).log())


def test_first_fit_places_every_item_once_without_overlap() -> None:
    lengths = [9, 1, 4, 4, 7, 2, 2, 10, 3, 5]
    rows, starts = first_fit_rows(lengths, 10)
    cells = [(row, start + offset) for row, start, length in zip(rows, starts, lengths) for offset in range(length)]
    assert len(cells) == len(set(cells)) == sum(lengths)
    assert all(start + length <= 10 for start, length in zip(starts, lengths))
    assert max(rows) + 1 == 5  # 47 tokens in rows of 10: the least possible, 5


def test_packing_on_with_hsa_is_refused_and_auto_trains_hsa_unpacked() -> None:
    with pytest.raises(ConfigError, match="train.packing"):
        small("coupled", "reverse", "on", **{"model.attention": "hsa", "model.hsa.chunk_size": 4, "model.hsa.window": 8})
    config = small("coupled", "reverse", "auto", **{"model.attention": "hsa", "model.hsa.chunk_size": 4, "model.hsa.window": 8})
    assert BatchSource(config, 0).next().example_ids is None
    assert BatchSource(small("coupled", "reverse", "auto"), 0).next().example_ids is not None


def test_a_stored_config_without_the_field_reads_back_as_trained_unpacked() -> None:
    stored = RunConfig().to_dict()
    del stored["train"]["packing"]
    assert RunConfig.from_stored(stored).train.packing == "off"
    assert RunConfig.from_dict(stored).train.packing == "auto"  # a new request gets today's default
    assert RunConfig.from_stored(RunConfig().to_dict()) == RunConfig()


def test_packed_training_reaches_the_unpacked_in_distribution_accuracy_on_the_same_seed_and_steps() -> None:
    """The equivalence test of issue 10: same seed, same 300 steps, both ways; greedy exact match in distribution."""
    outcomes = {}
    for packing in ("off", "on"):
        config = RunConfig(
            task=TaskConfig(name="reverse", train_length_min=1, train_length_max=6),
            positions=PositionConfig(scheme="coupled", max_position=64),
            model=ModelConfig(n_layers=2, n_heads=4, d_model=64, d_ff=128),
            train=TrainConfig(steps=300, batch_size=64, lr=3e-3, warmup_steps=20, log_every=50, device="cpu", distractor_examples=0, packing=packing),
            eval=EvalConfig(samples_per_length=100, lengths=(2, 4, 6)),
        )
        result = train(config, seed=0)
        outcomes[packing] = (result, {point.length: point.exact_match for point in sweep(result.model, config.task, config.eval).points})
    (plain, plain_em), (dense, dense_em) = outcomes["off"], outcomes["on"]
    assert min(plain_em.values()) >= 0.95 and min(dense_em.values()) >= 0.95, (plain_em, dense_em)
    assert all(abs(dense_em[length] - plain_em[length]) <= 0.05 for length in plain_em), (plain_em, dense_em)
    # the first 50 steps follow the same path up to float rounding
    assert dense.points[0].loss == pytest.approx(plain.points[0].loss, rel=1e-3)
