"""The trainer: learns for real, reproducible, budgets, pause/cancel, divergence, checkpoints."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, RunConfig, TaskConfig, TrainConfig
from lengen_core.evaluation import sweep
from lengen_core.models import build_model
from lengen_core.positions import build_scheme
from lengen_core.training import TrainingControl, learning_rate, load_checkpoint, save_checkpoint, train
from lengen_core.vocab import PAD_ID


def small_config(task: str = "copy_unique", scheme: str = "coupled", steps: int = 40, **train_changes: object) -> RunConfig:
    train_settings = {"steps": steps, "batch_size": 16, "log_every": 10, "warmup_steps": 5, "device": "cpu"}
    train_settings.update(train_changes)
    return RunConfig(
        task=TaskConfig(name=task, train_length_min=1, train_length_max=6),
        positions=PositionConfig(scheme=scheme, max_position=64),
        model=ModelConfig(n_layers=2, n_heads=2, d_model=32, d_ff=64),
        train=TrainConfig(**train_settings),
        eval=EvalConfig(samples_per_length=20, lengths=(3, 6)),
    )


@pytest.mark.serial  # a time bound or every core
def test_trainer_learns_copy_to_full_accuracy_in_distribution_in_seconds() -> None:
    config = RunConfig(
        task=TaskConfig(name="copy_unique", train_length_min=1, train_length_max=8),
        positions=PositionConfig(scheme="coupled", max_position=64),
        model=ModelConfig(n_layers=2, n_heads=4, d_model=64, d_ff=128),
        train=TrainConfig(steps=400, batch_size=64, lr=3e-3, warmup_steps=20, log_every=50, device="cpu", distractor_examples=0),
        eval=EvalConfig(samples_per_length=100, lengths=(2, 5, 8)),
    )
    started = time.perf_counter()
    result = train(config, seed=0)
    seconds = time.perf_counter() - started
    assert result.status == "done" and result.steps_done == 400
    outcome = sweep(result.model, config.task, config.eval)
    accuracies = {point.length: point.exact_match for point in outcome.points}
    assert accuracies == {2: 1.0, 5: 1.0, 8: 1.0}, accuracies
    assert seconds < 120, f"took {seconds:.1f} s"  # ~15 s on an idle 2-core machine
    assert result.points[-1].loss < result.points[0].loss / 10


def test_same_seed_same_curve_different_seed_different_curve() -> None:
    config = small_config(steps=20)
    first = [point.loss for point in train(config, seed=3).points]
    second = [point.loss for point in train(config, seed=3).points]
    other = [point.loss for point in train(config, seed=4).points]
    assert first == second
    assert first != other


def test_batches_are_made_in_the_training_thread() -> None:
    """No helper thread while training: a producer thread cost 40% of the speed (docs/benchmarks.md)."""
    threads_while_training: list[set[str]] = []

    def on_log(_point: object) -> None:
        threads_while_training.append({thread.name for thread in threading.enumerate()})

    before = {thread.name for thread in threading.enumerate()}
    train(small_config(steps=20), seed=0, on_log=on_log)
    assert threads_while_training and all(names <= before for names in threads_while_training), threads_while_training


def test_learning_rate_warms_up_then_decays_by_cosine() -> None:
    config = small_config(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, config) == pytest.approx(1e-4)
    assert learning_rate(9, config) == pytest.approx(1e-3)
    assert learning_rate(55, config) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert learning_rate(100, config) == pytest.approx(1e-4)


def test_time_budget_stops_training() -> None:
    config = small_config(steps=100_000, time_budget_s=1.0)
    started = time.perf_counter()
    result = train(config, seed=0)
    assert result.status == "done"
    assert 0 < result.steps_done < 100_000
    assert 0.9 <= result.train_seconds < 3.0
    assert time.perf_counter() - started < 10


def test_cancel_from_another_thread() -> None:
    control = TrainingControl()
    config = small_config(steps=100_000)
    timer = threading.Timer(0.5, control.cancel)
    timer.start()
    result = train(config, seed=0, control=control)
    assert result.status == "cancelled"
    assert 0 < result.steps_done < 100_000


def test_pause_holds_steps_and_resume_continues() -> None:
    control = TrainingControl()
    config = small_config(steps=300)
    steps_seen: list[int] = []
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=train(config, seed=0, control=control, on_log=lambda p: steps_seen.append(p.step))))
    control.pause()
    worker.start()
    time.sleep(0.6)
    assert steps_seen == []  # paused before the first step: nothing happens
    control.resume()
    worker.join(timeout=60)
    result = outcome["result"]
    assert result.status == "done" and result.steps_done == 300


def test_divergence_above_the_loss_limit_stops_with_status_diverged() -> None:
    config = small_config(steps=50, divergence_loss=1.0)  # initial loss ~ ln(vocab) > 1
    result = train(config, seed=0)
    assert result.status == "diverged"
    assert result.steps_done == 0
    assert "loss became" in result.error


def test_nan_loss_stops_with_status_diverged() -> None:
    config = small_config(steps=50)
    model = build_model(config.model, build_scheme(config.positions))
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    result = train(config, seed=0, model=model)
    assert result.status == "diverged"
    assert math.isnan(result.points[-1].loss)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path) -> None:
    config = small_config(steps=5)
    result = train(config, seed=7)
    path = save_checkpoint(result.model, config, 7, tmp_path / "run.safetensors")
    assert not list(tmp_path.glob("*.tmp"))
    model, loaded_config, seed = load_checkpoint(path)
    assert loaded_config == config and seed == 7
    tokens = torch.randint(0, 100, (2, 9))
    position_ids = torch.arange(9).expand(2, 9)
    torch.testing.assert_close(model(tokens, position_ids).logits, result.model(tokens, position_ids).logits)


def test_learning_rate_follows_the_time_budget_when_it_is_nearer() -> None:
    config = small_config(steps=100_000, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1, time_budget_s=60.0)
    assert learning_rate(20, config, elapsed_s=30.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert learning_rate(20, config, elapsed_s=60.0) == pytest.approx(1e-4)


def test_training_rows_carry_distractor_examples_and_the_model_still_learns() -> None:
    """``train.distractor_examples``: rows hold 0..k whole examples before the scored one; reverse is still learned."""
    from lengen_core.training import BatchSource

    config = RunConfig(
        task=TaskConfig(name="reverse", train_length_min=1, train_length_max=6),
        positions=PositionConfig(scheme="coupled", max_position=64),
        model=ModelConfig(n_layers=2, n_heads=4, d_model=64, d_ff=128),
        train=TrainConfig(steps=600, batch_size=64, lr=3e-3, warmup_steps=20, log_every=50, device="cpu", distractor_examples=2),
        eval=EvalConfig(samples_per_length=100, lengths=(2, 4, 6)),
    )
    batch = BatchSource(config.replace(**{"train.packing": "off"}), seed=0).next()  # one training row per example
    scored_per_row = (batch.targets != -100).sum(dim=1)  # [B]: one answer per row, however many examples it holds
    real_per_row = (batch.inputs != PAD_ID).sum(dim=1)
    assert int(scored_per_row.max()) <= 6 + 1 and int(real_per_row.max()) > 2 * (2 * 6 + 3)  # some row holds 3 examples
    result = train(config, seed=0)
    assert result.status == "done"
    outcome = sweep(result.model, config.task, config.eval)  # ~25 s; 0.99..1.00 measured
    assert all(point.exact_match >= 0.95 for point in outcome.points), [(p.length, p.exact_match) for p in outcome.points]


def test_a_checkpoint_keeps_every_config_field_so_its_config_id_survives(tmp_path) -> None:
    """Fields left out of the canonical JSON at their default (eval.search) must not read back as 'stored before'."""
    config = small_config(steps=1)
    assert config.eval.search and "search" not in config.to_json()
    path = save_checkpoint(train(config, seed=0).model, config, 0, tmp_path / "model.safetensors")
    _, loaded, _ = load_checkpoint(path)
    assert loaded == config and loaded.config_id == config.config_id
