"""Where a trained model's answers go wrong: the index of the first wrong answer token, counted.

    python bench/first_errors.py CHECKPOINT.safetensors LENGTH [--samples 50] [--seed 5]

Decodes ``--samples`` fresh examples of the run's task at ``LENGTH`` greedily (the same
decoder as the length sweep) and prints, for every answer index, how many wrong answers
first went wrong there (the last index is the ``<eos>``), with the token there and its
position id in the first such example. Used for the error analysis in docs/results.md.
"""

from __future__ import annotations

import collections
import random

from lengen_core.data import ExampleSource
from lengen_core.evaluation import greedy_decode
from lengen_core.inspection import first_mismatch
from lengen_core.training import load_checkpoint
from lengen_core.vocab import EOS_ID, VOCAB

try:  # python -m bench.first_errors
    from bench.common import checkpoint_parser
except ModuleNotFoundError:  # python bench/first_errors.py
    from common import checkpoint_parser


def main() -> None:
    parser = checkpoint_parser(__doc__, samples=50)
    args = parser.parse_args()
    model, config, _ = load_checkpoint(args.checkpoint)
    source = ExampleSource(config.task)
    examples = source.sample_many(random.Random(f"first-errors-{args.seed}"), args.length, args.samples)
    decoded = greedy_decode(model, examples)
    counts: collections.Counter[int] = collections.Counter()
    first_example: dict[int, int] = {}
    for number, (example, answer) in enumerate(zip(examples, decoded.answers)):
        index = first_mismatch(example.answer, [*answer, EOS_ID])  # answers are decoded without their <eos>
        if index is not None:
            counts[index] += 1
            first_example.setdefault(index, number)
    wrong = sum(counts.values())
    answer_length = len(examples[0].answer)
    print(f"{config.task.name} at length {args.length}: {wrong}/{len(examples)} wrong (answer length {answer_length} incl. <eos>)")
    print("answer index  wrong answers  true token  position id (first example)")
    for index in sorted(counts):
        example = examples[first_example[index]]
        token_position = len(example.prompt) + index
        position_id = example.coupled_ids[token_position] if example.coupled_ids is not None else "-"
        print(f"{index:12d}  {counts[index]:13d}  {VOCAB.token(example.answer[index]):>10}  {position_id}")


if __name__ == "__main__":
    main()
