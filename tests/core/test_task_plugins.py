"""Tasks from installed packages (issue 24): the example plug-in is found everywhere a task is, and a broken
plug-in is left out with its reason, never taking the registry down."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from lengen_core.config import RunConfig
from lengen_core.tasks import TASK_REGISTRY, build_task
from lengen_core.tasks.plugins import PLUGIN_ERRORS, PLUGIN_TASKS, load_plugins
from lengen_core.vocab import VOCAB

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_plugin_is_installed_and_registered() -> None:
    assert "a_before_b" in TASK_REGISTRY, "pip install -e examples/lengen-first-b (requirements.txt installs it)"
    assert PLUGIN_TASKS["a_before_b"] == "lengen_first_b:ABeforeB"
    task = build_task("a_before_b")
    for seed in range(300):
        example = task.sample(random.Random(seed), random.Random(seed).randint(1, 40))
        symbols = VOCAB.decode(example.prompt[1:-1])
        before = symbols[: symbols.index("b")] if "b" in symbols else symbols
        assert "".join(VOCAB.decode(example.answer_without_eos)) == str(before.count("a"))
        assert len(example.tokens) <= task.max_sequence_length(example.length)


def test_the_plugin_task_is_a_task_like_any_other_in_the_cli_and_the_config() -> None:
    config = RunConfig().replace(**{"task.name": "a_before_b", "positions.scheme": "rope", "task.options": {"b_share": 20}})
    assert config.task.options == {"b_share": 20}
    listing = subprocess.run([sys.executable, "-m", "lengen_core", "tasks"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "a_before_b" in listing and "From installed plug-ins: a_before_b (lengen_first_b:ABeforeB)" in listing


TASK_SOURCE = """
from lengen_core.tasks.base import ANSWER_SEGMENT, Task
from lengen_core.tasks.common import SequenceBuilder
from lengen_core.vocab import VOCAB


class {cls}(Task):
    name = "{name}"

    def generate(self, rng, length):
        builder = SequenceBuilder()
        builder.extend([VOCAB.id("a")] * length, 1)
        builder.end_prompt()
        builder.add(VOCAB.id("b"), ANSWER_SEGMENT)
        return builder.build(length)
{extra}"""
LENGTH = "\n    def max_sequence_length(self, length):\n        return length + 3\n"
PLUGINS = {  # entry point -> (module, class, its task's name, what follows generate)
    "good": ("goodtask", "GoodTask", "plugin_good", LENGTH),
    "taken": ("takentask", "Taken", "reverse", LENGTH),  # a built-in's name
    "broken": ("brokentask", "Broken", "plugin_broken", LENGTH + "\n    def sample(self, rng, length):\n        raise RuntimeError('no examples')\n"),
    "incomplete": ("incompletetask", "Incomplete", "plugin_incomplete", ""),
}


def _install(site: Path, name: str, entries: str, module: str, source: str) -> None:
    """A distribution as pip leaves it: ``<name>-0.1.dist-info`` (``name`` without ``-``, which the folder name splits on)."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lengen_core.tasks]\n{entries}\n")


def test_plugins_are_found_by_their_entry_point_and_bad_ones_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for label, (module, cls, name, extra) in PLUGINS.items():
        _install(tmp_path, f"lengen_{label}", f"{label} = {module}:{cls}", module, TASK_SOURCE.format(cls=cls, name=name, extra=extra))
    _install(tmp_path, "lengen_missing", "missing = no_such_module:Task", "unused", "")
    _install(tmp_path, "lengen_notatask", "notatask = notatask:VALUE", "notatask", "VALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = dict(TASK_REGISTRY)
    try:
        load_plugins()
        assert "plugin_good" in TASK_REGISTRY and PLUGIN_TASKS["plugin_good"] == "goodtask:GoodTask", PLUGIN_ERRORS
        assert build_task("plugin_good").sample(random.Random(0), 3).answer[0] == VOCAB.id("b")
        assert TASK_REGISTRY["reverse"] is before["reverse"], "a plug-in never replaces a task"
        assert "taken by lengen_core.tasks.copying.Reverse" in PLUGIN_ERRORS.get("taken", ""), (PLUGIN_ERRORS, PLUGIN_TASKS)
        assert "plugin_broken" not in TASK_REGISTRY and "no examples" in PLUGIN_ERRORS["broken"]
        assert "must implement generate and max_sequence_length" in PLUGIN_ERRORS["incomplete"]
        assert PLUGIN_ERRORS["missing"].startswith("ModuleNotFoundError")
        assert "neither a Task subclass nor a module" in PLUGIN_ERRORS["notatask"]
    finally:
        for name in set(TASK_REGISTRY) - set(before):
            TASK_REGISTRY.pop(name)
            PLUGIN_TASKS.pop(name, None)
        for label in (*PLUGINS, "missing", "notatask"):
            PLUGIN_ERRORS.pop(label, None)
