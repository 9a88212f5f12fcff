"""No traceback from any link: every page's URL parameters, however hostile, end in the page or a clear error.

Two layers:

- the pure functions that turn URL parameters into page state (the Train page's config
  codec, the id lists of Length sweep and Runs) get ``HOSTILE_EXAMPLES`` (2,000) generated
  inputs each, and may raise only ConfigError;
- every page is then opened through AppTest with a sample of hostile links (generated
  too, plus the crafted ones the issue names): no exception, and user text in any
  message is escaped, so a crafted link draws no foreign link and fetches no image.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lengen_core.config import RunConfig
from lengen_core.config_codec import flatten
from lengen_core.errors import ConfigError
from pages.common import parse_id_list, run_setup_from_query_params
from pages.escaping import WORD_JOINER, code_span, escape_markdown
from tests.conftest import rendered

HOSTILE_EXAMPLES = int(os.environ.get("LENGEN_HOSTILE_EXAMPLES", "2000"))
PAGE_EXAMPLES = 4  # per page, through AppTest (about a second each)

KEYS = sorted(flatten(RunConfig().to_dict())) + [
    "seed",
    "task.options.alphabet_size",
    "task.options.k",
    "task.options.zz",
    "model.hsa",
    "model.bogus",
    "runs",
    "run",
    "baseline",
    "q",
    "status",
    "task",
    "scheme",
    "lesson",
    "sweep",
    "task.options",
    "eval.lengths",
]
NASTY = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "none",
            "null",
            "true",
            "nan",
            "inf",
            "-inf",
            "1e309",
            "-1",
            "0",
            str(2**53),
            str(2**63),
            "9" * 5000,
            "x" * 100_000,
            "[click](http://evil.example)",
            "![img](http://evil.example/x.png)",
            "<img src=x onerror=alert(1)>",
            "**bold**",
            ":red[x]",
            "`tick`",
            "a,b,,c",
            "5,x,10",
            "reverse",
            "hsa",
            "coupled",
            "\x00",
            "é" * 40,
        ]
    ),
)
PARAMS = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=20), st.one_of(NASTY, st.lists(NASTY, max_size=3)), max_size=5)
FAST = settings(max_examples=HOSTILE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@FAST
@given(PARAMS)
def test_train_link_codec_refuses_any_hostile_link_with_a_config_error(params: dict[str, Any]) -> None:
    try:
        config, seed = run_setup_from_query_params(params)
    except ConfigError as error:
        assert len(str(error)) < 2500
    else:
        assert isinstance(config, RunConfig) and 0 <= seed < 2**53


@FAST
@given(st.one_of(NASTY, st.lists(NASTY, max_size=5), st.none()))
def test_id_lists_from_links_are_plain_text(value: Any) -> None:
    ids = parse_id_list(value)
    assert all(isinstance(item, str) and item == item.strip() and item for item in ids)


@FAST
@given(NASTY)
@example(WORD_JOINER)  # the character escaping inserts, in the input itself (CI's run found it)
@example(f"a{WORD_JOINER}http://evil.example")
def test_escaped_text_has_no_markdown_left(text: str) -> None:
    escaped = escape_markdown(text)
    unescaped = []
    index = 0
    while index < len(escaped):  # every Markdown character is preceded by its backslash
        char = escaped[index]
        if char == "\\":
            unescaped.append(escaped[index + 1])
            index += 2
            continue
        assert char not in "[]()!*_`<>:#|~", (text, escaped)
        unescaped.append(char)
        index += 1
    # escaping inserts word joiners, so the text is compared without them (the input may hold its own)
    assert "".join(unescaped).replace(WORD_JOINER, "") == text.replace("\n", " ").replace(WORD_JOINER, "")
    assert "://" not in escaped and "www." not in escaped.lower()  # nothing left for the front end to linkify


@FAST
@given(NASTY)
def test_code_spans_hold_any_text(text: str) -> None:
    span = code_span(text)
    fence = len(span) - len(span.lstrip("`"))
    assert span.startswith("`" * fence) and span.endswith("`" * fence)
    assert "`" * fence not in span[fence:-fence]  # no backtick run inside can close it early


PAGES = ["pages/train.py", "pages/length_sweep.py", "pages/attention.py", "pages/position_ids.py", "pages/compare.py", "pages/runs.py", "pages/lessons.py"]
LINK, IMAGE = "[click me](http://evil.example)", "![x](http://evil.example/a.png)"
CRAFTED = [  # every page's own parameters, each a link and an image
    {"baseline": LINK, "q": IMAGE, "run": f"{LINK} {IMAGE}", "runs": f"{LINK},{IMAGE}," + "z" * 5000, "lesson": IMAGE, "sweep": LINK},
    {"model.n_layers": LINK, "seed": IMAGE, "status": LINK, "task": IMAGE},
    {LINK: "1", "seed": str(2**60), "task.name": "x" * 100_000},
]


def no_foreign_links(app: Any) -> None:
    """Nothing the page wrote would draw a link or an image to the crafted host once rendered."""
    for element in [*app.error, *app.warning, *app.info, *app.success, *app.markdown, *app.caption]:
        body = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", element.value)  # code spans show their text as typed
        if "evil.example" not in body:
            continue
        assert "](http" not in body and "<img" not in body, body[:300]  # escaped: \]\(http ...
        assert len(rendered(element)) < 5000


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("params", CRAFTED, ids=[f"crafted{i}" for i in range(len(CRAFTED))])
def test_crafted_links_open_every_page_cleanly(open_app: Any, page: str, params: dict[str, str]) -> None:
    app = open_app(page, query_params=params)
    assert not app.exception, [element.value for element in app.exception]
    no_foreign_links(app)


@pytest.mark.parametrize("page", PAGES)
def test_generated_hostile_links_open_every_page_cleanly(open_app: Any, page: str) -> None:
    @settings(max_examples=PAGE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.dictionaries(st.sampled_from(KEYS), NASTY, max_size=4))
    def check(params: dict[str, str]) -> None:
        app = open_app(page, query_params=params)
        assert not app.exception, (params, [element.value for element in app.exception])
        no_foreign_links(app)

    check()
