"""Passkey retrieval with an HSA model: a few training steps, then greedy decoding past the training length.

The full experiment (bench/passkey/run.sh, docs/results.md) trains for 15 minutes; this only
checks the plumbing the experiment relies on, in a few seconds on one CPU core.
"""

from __future__ import annotations

import random

import torch

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, RunConfig, TaskConfig, TrainConfig
from lengen_core.data import ExampleSource
from lengen_core.evaluation import greedy_decode, score
from lengen_core.training import train


def passkey_hsa_config(local_mixer: str) -> RunConfig:
    return RunConfig(
        task=TaskConfig(name="passkey_retrieval", train_length_min=32, train_length_max=64, options={"passkey_digits": 5}),
        positions=PositionConfig(scheme="rope", max_position=256),
        model=ModelConfig(
            n_layers=2,
            n_heads=2,
            d_model=32,
            d_ff=64,
            norm="rmsnorm",
            attention="hsa",
            hsa={"chunk_size": 8, "top_k": 2, "window": 16, "local_mixer": local_mixer, "retrieval_dim": 8},
        ),
        train=TrainConfig(steps=6, batch_size=4, lr=3e-3, warmup_steps=1, log_every=3, device="cpu"),
        eval=EvalConfig(lengths=(64,), samples_per_length=4, batch_size=2),
    )


def test_hsa_trains_on_passkey_and_decodes_beyond_the_training_length() -> None:
    torch.manual_seed(0)
    for local_mixer in ("swa", "recurrent"):
        config = passkey_hsa_config(local_mixer)
        result = train(config, seed=0)
        assert result.status == "done" and result.steps_done == 6
        assert [point.step for point in result.points] == [3, 6]
        assert all(torch.isfinite(torch.tensor(point.loss)) for point in result.points)

        source = ExampleSource(config.task)
        long_length = 300  # > 4x the longest training prompt: 37 chunks of 8, most beyond the window
        examples = source.sample_many(random.Random(1), long_length, 3)
        decoded = greedy_decode(result.model, examples)
        assert len(decoded.answers) == 3
        for example, answer in zip(examples, decoded.answers):
            assert len(example.prompt) == long_length
            assert len(answer) <= len(example.answer)  # at most the answer budget, <eos> cut off
        correct, token_accuracy = score(source.task, examples, decoded.answers)
        assert 0 <= correct <= 3 and 0.0 <= token_accuracy <= 1.0

        # greedy decoding re-runs the prefix each step: a single forward pass over prompt + generated
        # tokens must reproduce every generated token as its argmax (no <eos> cut inside the budget)
        example, answer = examples[0], decoded.answers[0]
        sequence = torch.tensor([list(example.prompt) + answer])
        output = result.model(sequence, torch.arange(sequence.shape[1])[None], return_attention=True)
        predicted = output.logits[0, len(example.prompt) - 1 : -1].argmax(-1).tolist()
        assert predicted == answer

        # the HSA layer reads only complete past chunks at the long length too
        info = output.layers[1]
        indices = info["hsa_indices"]  # [1, T, H_kv, K]
        assert indices.shape == (1, sequence.shape[1], 1, 2)
        token = torch.arange(sequence.shape[1]).view(1, -1, 1, 1)
        filled = indices >= 0
        assert ((indices + 1) * 8 <= token)[filled].all()
        assert filled[:, 16:].all()  # two complete chunks are visible from token 16 on
