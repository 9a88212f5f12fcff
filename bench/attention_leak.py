"""Where a copying model's attention goes at a length: on the token to copy, or leaked elsewhere.

    python bench/attention_leak.py CHECKPOINT.safetensors LENGTH [--samples 40] [--seed 5]

For a run of ``reverse`` or ``copy_unique`` with position coupling. Teacher-forced on
``--samples`` fresh examples of LENGTH symbols (one forward pass with the explicit
attention path, which returns the probabilities). Answer token j copies the prompt
token with the same coupled id (Cho et al.'s rule), so for the query that predicts it
this prints, per block of answer indices:

- the attention weight on that source token, taking the head that gives it the most
  (mean and minimum over the examples), and the teacher-forced token accuracy;
- then where that head's remaining weight goes: in total to ids at most
  ``train_length_max`` from the query's (the only pairs one training example holds)
  and to ids further away, and the largest single ``key id - query id`` differences
  (prompt tokens and answer tokens listed apart).

Used for the error analysis in docs/results.md. Single layer models are what it was
written for; with more layers it reads layer ``--layer`` (default 0).
"""

from __future__ import annotations

import collections
import random

import torch

from lengen_core.batching import collate
from lengen_core.data import ExampleSource
from lengen_core.training import load_checkpoint

try:  # python -m bench.attention_leak
    from bench.common import checkpoint_parser
except ModuleNotFoundError:  # python bench/attention_leak.py
    from common import checkpoint_parser

COPYING_TASKS = ("reverse", "copy_unique")
BLOCK = 5  # answer indices per printed row


def main() -> None:
    parser = checkpoint_parser(__doc__, samples=40)
    parser.add_argument("--layer", type=int, default=0)
    args = parser.parse_args()
    model, config, _ = load_checkpoint(args.checkpoint)
    if config.task.name not in COPYING_TASKS or config.positions.scheme != "coupled":
        parser.error(f"needs a run of {' or '.join(COPYING_TASKS)} with positions.scheme coupled, got {config.task.name} / {config.positions.scheme}")
    model.eval()
    examples = ExampleSource(config.task).sample_many(random.Random(f"attention-leak-{args.seed}"), args.length, args.samples)
    batch = collate(examples)
    position_ids = model.scheme.position_ids(batch, training=False)  # [B, T]
    with torch.no_grad():
        output = model(batch.tokens, position_ids, return_attention=True)
    probs = output.layers[args.layer]["attention"]  # [B, H, T, T]
    predicted = output.logits.argmax(-1)  # [B, T]

    on_source: dict[int, list[tuple[float, bool]]] = collections.defaultdict(list)
    elsewhere: collections.Counter[tuple[str, int]] = collections.Counter()
    queries = 0
    for row, example in enumerate(examples):
        ids = example.coupled_ids
        prompt_length = len(example.prompt)
        for j in range(len(example.answer) - 1):  # the <eos> copies nothing
            query = prompt_length - 1 + j  # the token whose next-token prediction is answer[j]
            source = next(t for t in range(prompt_length) if ids[t] == ids[prompt_length + j])
            weights = probs[row, :, query, : query + 1]  # [H, keys]
            head = int(weights[:, source].argmax())
            ok = int(predicted[row, query]) == example.answer[j]
            on_source[j // BLOCK].append((float(weights[head, source]), ok))
            for key in range(query + 1):
                if key != source:
                    part = "prompt" if key < prompt_length else "answer"
                    elsewhere[(part, ids[key] - ids[query])] += float(weights[head, key])
            queries += 1

    print(f"{config.task.name} / coupled at length {args.length}: {len(examples)} examples, teacher-forced, layer {args.layer}")
    print("answer index  weight on source (mean, min)  token accuracy")
    for block in sorted(on_source):
        weights = [weight for weight, _ in on_source[block]]
        accuracy = sum(ok for _, ok in on_source[block]) / len(on_source[block])
        print(f"{block * BLOCK:5d}-{block * BLOCK + BLOCK - 1:<5d}  {sum(weights) / len(weights):10.3f} {min(weights):8.3f}  {accuracy:18.3f}")
    seen = config.task.train_length_max  # training never puts two ids further apart than this in one example
    near = sum(weight for (_, difference), weight in elsewhere.items() if abs(difference) <= seen)
    far = sum(weight for (_, difference), weight in elsewhere.items() if abs(difference) > seen)
    print(
        f"weight elsewhere, mean per query: {near / queries:.3f} on ids at most {seen} from the query's "
        f"(pairs seen in training), {far / queries:.3f} on ids further away"
    )
    print("largest: key part, key id - query id, weight")
    for (part, difference), weight in elsewhere.most_common(10):
        print(f"  {part:6s} {difference:+4d}  {weight / queries:.3f}")


if __name__ == "__main__":
    main()
