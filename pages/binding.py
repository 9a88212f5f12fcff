"""Widgets bound to the URL: the one way every page keeps its choices in its link.

Three shapes, one rule: the URL wins when it changed from outside (a first
load, a pasted link, back/forward), the widget wins otherwise, and after the
widget is drawn its value is written back, defaults left out so links stay
short. "From outside" means different from what this page wrote last, kept in
session state under ``<page>.url``.

- :func:`url_picker`: a select box or multiselect over known options, bound to
  one param (``?run=``, ``?runs=a,b``, ``?lesson=``, ``?sweep=``);
- :class:`UrlBinding` with :func:`load_url_bindings` / :func:`write_url_bindings`:
  free widgets (filters, a search box) bound to params, drawn by the page;
- :class:`ConfigForm`: one :class:`RunConfig` per page in session state, the
  widgets of its fields keyed ``<prefix><dotted field>``, the URL its text form
  (:mod:`lengen_core.params`) plus ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lengen_core.config import RunConfig
from lengen_core.config_codec import flatten
from lengen_core.errors import ConfigError
from lengen_core.params import config_to_params, decode_mixture, encode_mixture, is_config_param
from pages.common import parse_id_list, usable_run_setup


def _changed_from_outside(page: str, current: Any) -> bool:
    return st.session_state.get(f"{page}.url") != current


def _remember_written(page: str, current: Any) -> None:
    st.session_state[f"{page}.url"] = current


def _set_param(param: str, text: str) -> None:
    """``?param=text``, or no ``param`` at all when ``text`` is empty."""
    if text:
        if st.query_params.get(param) != text:
            st.query_params[param] = text
    elif param in st.query_params:
        del st.query_params[param]


# --------------------------------------------------------------------------- pickers


def url_picker(
    page: str,
    param: str,
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    multi: bool = False,
    omit: Any = None,
    to_text: Callable[[Any], str] = str,
    format_func: Callable[[Any], str] = str,
    unknown_warning: Callable[[list[str]], str] | None = None,
    help: str | None = None,
) -> Any:
    """A select box (or multiselect) over ``options`` bound to ``?param=``; returns the choice.

    ``to_text`` is an option's text in the URL; ``omit`` is the option that
    writes no param at all (e.g. "all runs"). Values in the URL that match no
    option are dropped, with ``unknown_warning(values)`` shown when given.
    Without a usable value the first option (a multiselect: the first option
    alone) is chosen.
    """
    texts = st.query_params.get_all(param)
    wanted = parse_id_list(texts) if multi else texts[-1:]
    by_text = {to_text(option): option for option in options}
    unknown = [text for text in wanted if text not in by_text]
    if unknown and unknown_warning is not None:
        st.warning(unknown_warning(unknown), icon=":material/search:")
    from_url = [by_text[text] for text in wanted if text in by_text]
    state = st.session_state.get(key)
    if multi:
        if _changed_from_outside(page, texts) or state is None:
            state = from_url or list(options[:1])
        st.session_state[key] = [value for value in state if value in options]
        chosen = st.multiselect(label, list(options), key=key, format_func=format_func, help=help)
        _set_param(param, ",".join(to_text(value) for value in chosen))
    else:
        if _changed_from_outside(page, texts) and from_url:
            state = from_url[0]
        if state not in options:
            state = options[0]
        st.session_state[key] = state
        chosen = st.selectbox(label, list(options), key=key, format_func=format_func, help=help)
        _set_param(param, "" if chosen == omit else to_text(chosen))
    _remember_written(page, st.query_params.get_all(param))
    return chosen


# --------------------------------------------------------------------------- free widgets


@dataclass(frozen=True)
class UrlBinding:
    """A widget (session-state ``key``) mirrored in the query param ``param``; ``multi`` for lists (comma-joined)."""

    param: str
    key: str
    multi: bool = False
    default: Any = ""


def load_url_bindings(page: str, bindings: Sequence[UrlBinding], options: Mapping[str, Sequence[Any]] | None = None) -> bool:
    """Copy the URL's values into the widgets' state when the URL changed from outside; returns whether it did.

    ``options`` restricts a multi widget's values to those it offers.
    """
    current = {binding.param: st.query_params.get_all(binding.param) for binding in bindings}
    if not _changed_from_outside(page, current):
        return False
    for binding in bindings:
        raw = current[binding.param]
        if binding.multi:
            allowed = (options or {}).get(binding.param)
            st.session_state[binding.key] = [value for value in parse_id_list(raw) if allowed is None or value in allowed]
        else:
            st.session_state[binding.key] = raw[-1] if raw else binding.default
    return True


def write_url_bindings(page: str, bindings: Sequence[UrlBinding]) -> None:
    """Write the widgets' values to the URL (empty or default values are removed, keeping links short)."""
    for binding in bindings:
        value = st.session_state.get(binding.key, binding.default)
        _set_param(binding.param, ",".join(str(item) for item in value) if binding.multi else ("" if value in (None, binding.default) else str(value)))
    _remember_written(page, {binding.param: st.query_params.get_all(binding.param) for binding in bindings})


# --------------------------------------------------------------------------- a whole run config


# Fields whose widgets show another type than the config holds: no time budget (None) is shown as 0,
# and float fields whose default is a whole number must stay floats for st.number_input.
_FLOAT_WIDGETS: tuple[str, ...] = ("train.lr", "eval.max_length_factor", "eval.threshold", "model.dropout")


class ConfigForm:
    """One :class:`RunConfig` (and seed) in session state, edited by widgets and mirrored in the URL.

    The config is the page's single source: widgets read their value from it
    (``<prefix><dotted field>`` keys are filled from it before they are drawn),
    :meth:`apply` builds the next config from the widgets' values with
    :meth:`RunConfig.replace` (fields without a widget keep their value), and
    :meth:`write_url` writes its text form. Widget values are what the user
    typed; a value the config refuses stays in its widget with its error shown.
    """

    def __init__(self, page: str, prefix: str) -> None:
        self.page = page
        self.prefix = prefix
        self.config_key = f"{page}.config"
        self.seed_key = prefix + "seed"
        self.values: dict[str, Any] = {}

    # -- state
    @property
    def config(self) -> RunConfig:
        """The page's config: the last one its widgets described without an error."""
        return st.session_state.get(self.config_key) or RunConfig()

    def load(self, config: RunConfig, seed: int = 0) -> None:
        """Make ``config`` and ``seed`` the form's state, overwriting every widget (call before drawing them)."""
        for key in [key for key in st.session_state.keys() if str(key).startswith(self.prefix) and self.is_field_key(str(key))]:
            del st.session_state[key]
        for dotted, value in self.widget_values(config).items():
            st.session_state[self.prefix + dotted] = value
        st.session_state[self.seed_key] = seed
        st.session_state[self.config_key] = config

    def is_field_key(self, key: str) -> bool:
        return key == self.seed_key or is_config_param(key.removeprefix(self.prefix))

    @staticmethod
    def widget_values(config: RunConfig) -> dict[str, Any]:
        """Widget state for ``config``: its flattened fields, with the widget-side types."""
        values = flatten(config.to_dict())
        values["train.time_budget_s"] = float(config.train.time_budget_s or 0.0)
        values["task.mixture"] = encode_mixture(values["task.mixture"])  # a text widget: the link's text form
        for dotted in _FLOAT_WIDGETS:
            values[dotted] = float(values[dotted])
        return values

    # -- the URL
    def _url_params(self) -> dict[str, str]:
        return {key: st.query_params.get(key) for key in st.query_params.keys() if is_config_param(key) or key == "seed"}

    def sync_from_url(self) -> tuple[list[ConfigError], bool]:
        """Load the URL's config when it changed from outside (first load, a pasted link).

        Returns the errors of the fields left out and whether the rest was kept (:func:`pages.common.usable_run_setup`).
        """
        current = self._url_params()
        if not _changed_from_outside(self.page, current):
            return [], True
        if not current and self.config_key in st.session_state:
            return [], True  # back on the page with a bare URL: keep this session's config
        config, seed, errors, kept = usable_run_setup(current)
        self.load(config, seed)
        return errors, kept

    def write_url(self, config: RunConfig, seed: int) -> None:
        """Make the URL's config params exactly those of ``config`` (other params are left alone)."""
        wanted = config_to_params(config)
        if seed:
            wanted["seed"] = str(seed)
        current = self._url_params()
        for key in current:
            if key not in wanted:
                del st.query_params[key]
        for key, value in wanted.items():
            if current.get(key) != value:
                st.query_params[key] = value
        _remember_written(self.page, wanted)

    # -- widgets
    def key(self, dotted: str, fallback: Any = None) -> str:
        """The widget key of ``dotted``; a new widget starts at ``fallback``, else at the config's value."""
        key = self.prefix + dotted
        if key not in st.session_state:
            st.session_state[key] = self.config_value(dotted) if fallback is None else fallback
        return key

    def config_value(self, dotted: str) -> Any:
        """The form's config's value of ``dotted`` as its widget shows it."""
        return self.widget_values(self.config).get(dotted)

    def number(self, dotted: str, label: str, *, minimum: Any = None, step: Any = None, fmt: str | None = None, help: str | None = None) -> Any:
        self.values[dotted] = st.number_input(label, min_value=minimum, step=step, format=fmt, key=self.key(dotted), help=help)
        return self.values[dotted]

    def select(self, dotted: str, label: str, options: list[Any], *, fallback: Any = None, format_func: Any = str, help: str | None = None) -> Any:
        if fallback is None:
            fallback = self.config_value(dotted)
        key = self.key(dotted, fallback)
        if st.session_state[key] not in options:
            st.session_state[key] = fallback if fallback in options else options[0]
        self.values[dotted] = st.selectbox(label, options, key=key, format_func=format_func, help=help)
        return self.values[dotted]

    def checkbox(self, dotted: str, label: str, *, fallback: bool, help: str | None = None) -> bool:
        self.values[dotted] = st.checkbox(label, key=self.key(dotted, bool(fallback)), help=help)
        return self.values[dotted]

    def text(self, dotted: str, label: str, *, fallback: str, help: str | None = None) -> str:
        self.values[dotted] = st.text_input(label, key=self.key(dotted, str(fallback)), help=help)
        return self.values[dotted]

    def seed(self, label: str = "Seed", *, maximum: int) -> int:
        if self.seed_key not in st.session_state:
            st.session_state[self.seed_key] = 0
        return int(st.number_input(label, min_value=0, max_value=maximum, step=1, key=self.seed_key))

    def preset(self, dotted: str, value: Any) -> None:
        """Set a widget's value before it is drawn (e.g. the scheme a newly picked task can take)."""
        st.session_state[self.prefix + dotted] = value

    def current(self, dotted: str) -> Any:
        """A widget's value this rerun: what the user set, else the config's."""
        key = self.prefix + dotted
        return st.session_state[key] if key in st.session_state else self.config_value(dotted)

    def clamp(self, dotted: str, minimum: int, maximum: int) -> None:
        """Move an integer widget's value into ``minimum..maximum`` before it is drawn (e.g. a new task's lengths)."""
        current = self.current(dotted)
        if isinstance(current, int) and not minimum <= current <= maximum:
            self.preset(dotted, min(max(current, minimum), maximum))

    # -- the next config
    def apply(self) -> RunConfig:
        """The config the widgets describe; becomes the form's config. ConfigError naming the field if refused."""
        changes = dict(self.values)
        if "train.time_budget_s" in changes:
            changes["train.time_budget_s"] = float(changes["train.time_budget_s"]) or None
        if "task.mixture" in changes:
            changes["task.mixture"] = decode_mixture("task.mixture", changes["task.mixture"])
        config = self.config.replace(**changes)
        st.session_state[self.config_key] = config
        return config
