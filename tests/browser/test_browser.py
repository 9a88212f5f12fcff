"""Real browser: Train -> start a run -> progress advances, charts drawn -> Length sweep shows the curve; every page clean."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from bench.browser import wait_idle
from lengen_core.config import RunConfig
from lengen_core.params import config_to_params
from tests.browser.conftest import error_texts
from tests.conftest import TINY_CONFIG_CHANGES

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

RUN_STEPS = 1200  # long enough (several seconds) that the once-a-second progress shows more than one step
RUN_CHANGES = {**TINY_CONFIG_CHANGES, "train.steps": RUN_STEPS, "train.log_every": 10}
PAGES = [
    ("train", ""),
    ("length_sweep", "length_sweep"),
    ("attention", "attention"),
    ("position_ids", "position_ids"),
    ("compare", "compare"),
    ("runs", "runs"),
    ("lessons", "lessons"),
]


def progress_steps(page: Any) -> list[int]:
    texts = page.locator('[data-testid="stMarkdown"]:has(.lengen-progress)').all_inner_texts()
    return [int(match.group(1)) for text in texts for match in re.finditer(rf"step (\d+)/{RUN_STEPS}", text)]


CHARTS_DRAWN = """() => document.querySelectorAll('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks').length >= 2
    && document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 1"""
VIEWPORT = {"width": 1400, "height": 1500}  # Streamlit scrolls inside the page, so the viewport is the screenshot


@pytest.fixture(scope="module")
def server(server_factory: Any) -> Any:
    """One server for this module: the pages tour below then also shows the finished run."""
    return server_factory()


def test_train_run_then_length_sweep(browser: Any, server: Any, save_screenshot: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    query = urlencode({**config_to_params(RunConfig().replace(**RUN_CHANGES)), "seed": "1"})
    page.goto(f"{server.url}/?{query}", timeout=90_000)
    page.wait_for_selector("h1:has-text('Train')", timeout=90_000)
    wait_idle(page)
    expect(page.get_by_label("Steps", exact=True)).to_have_value(str(RUN_STEPS), timeout=30_000)  # the link set the widgets
    assert error_texts(page) == []
    save_screenshot(page, "train-form")

    page.get_by_role("button", name="Start training").click()
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen.update(progress_steps(page))
        if page.locator('[data-testid^="stAlertContent"]:has-text("Run finished")').count():
            break
        time.sleep(0.2)
    assert page.locator('[data-testid^="stAlertContent"]:has-text("Run finished")').count() == 1, error_texts(page)
    assert len(seen) >= 2 and max(seen) > min(seen), f"progress never advanced: {sorted(seen)}"
    wait_idle(page)
    # the chart libraries load and draw after the script run ends (plotly's bundle is fetched on first use)
    page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
    assert page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks').count() == 2  # loss, accuracy
    assert page.locator(".js-plotly-plot").count() == 1  # the length sweep
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2
    assert error_texts(page) == []
    save_screenshot(page, "train-run")

    page.get_by_role("link", name="Open in Length sweep").click()
    page.wait_for_selector("h1:has-text('Length sweep')", timeout=60_000)
    page.wait_for_selector(".js-plotly-plot .scatterlayer .trace", timeout=60_000)
    wait_idle(page)
    assert re.search(r"[?&]runs=[0-9a-f]{12}", page.url), page.url
    assert page.locator(".js-plotly-plot").count() == 1
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2  # band + curve
    assert page.locator(".js-plotly-plot .shapelayer path").count() >= 2  # training range + train length (+ breakdown)
    assert error_texts(page) == []
    save_screenshot(page, "length_sweep-run")
    context.close()


def test_every_page_renders_without_errors(browser: Any, server: Any, save_screenshot: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    for name, path in PAGES:
        page.goto(f"{server.url}/{path}", timeout=90_000)
        page.wait_for_selector("h1", timeout=90_000)
        wait_idle(page, timeout_s=90)
        time.sleep(0.5)  # late elements (charts) settle
        assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: {error_texts(page)}"
        assert error_texts(page) == [], f"{name}: {error_texts(page)}"
        nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
        assert any("Train" in item for item in nav) and any("Lessons" in item for item in nav), nav
        save_screenshot(page, name)
    context.close()


def test_attention_page_draws_hsa_chunk_selection(browser: Any, server: Any, save_screenshot: Any) -> None:
    """The bundled HSA passkey run: pick it in the run picker, see the chunk-selection chart."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{server.url}/attention", timeout=90_000)
    page.wait_for_selector("h1:has-text('Attention')", timeout=90_000)
    wait_idle(page, timeout_s=90)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile("passkey_hsa")).click()
    page.wait_for_selector("h3:has-text('HSA chunk selection')", timeout=90_000)
    wait_idle(page, timeout_s=90)
    page.locator("h3:has-text('HSA chunk selection')").scroll_into_view_if_needed()
    time.sleep(1.0)
    save_screenshot(page, "attention-hsa")
    # the chunk-selection chart sits under its heading (plotly draws a chart once it is in view)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=60_000)
    assert re.search(r"[?&]run=[0-9a-f]{12}", page.url), page.url
    assert error_texts(page) == []
    context.close()


CRAFTED_LINK = "[click me](http://evil.example/)"
CRAFTED_IMAGE = "![x](http://evil.example/pixel.png)"


CRAFTED_PAGES = [  # (path, params, a text the page then shows)
    ("runs", {"baseline": CRAFTED_LINK + " " + CRAFTED_IMAGE}, "is not in the store"),
    ("", {"model.n_layers": CRAFTED_LINK, "seed": "3"}, "model.n_layers"),
    ("attention", {"run": CRAFTED_IMAGE}, "not a finished run"),
    ("length_sweep", {"runs": CRAFTED_LINK}, "Not shown"),
]


def test_text_from_a_link_is_shown_as_text_not_as_a_link_or_an_image(browser: Any, server: Any) -> None:
    """A crafted link must not draw a foreign clickable link nor make the browser fetch a foreign image."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if urlparse(request.url).hostname == "evil.example" else None)
    for path, params, shown in CRAFTED_PAGES:
        page.goto(f"{server.url}/{path}?{urlencode(params)}", timeout=90_000)
        page.wait_for_selector("h1", timeout=90_000)
        wait_idle(page, timeout_s=90)
        page.wait_for_selector(f"text={shown}", timeout=30_000)
        main = page.locator('[data-testid="stMain"]')
        assert main.locator("a[href*='evil.example']").count() == 0, path
        assert main.locator("img[src*='evil.example']").count() == 0, path
        assert "evil.example" in main.inner_text().replace("\u2060", ""), path  # the text itself is there, as typed
        assert main.locator('[data-testid="stException"]').count() == 0, path  # errors are boxes the page means to draw
    assert fetched == []
    context.close()


GRID_TEXTS = """() => Array.from(document.querySelector('[data-testid="stPlotlyChart"]').querySelectorAll('.annotation-text')).map(node => {
    const style = getComputedStyle(node);
    const box = node.getBoundingClientRect();
    return {text: node.textContent, size: parseFloat(style.fontSize), fill: style.fill, x: box.x, y: box.y, width: box.width, height: box.height};
})"""


def _rgb(text: str) -> str:
    """``rgb(r, g, b)`` from a computed style (or ``#rrggbb``) as ``#rrggbb``."""
    if text.startswith("#"):
        return text
    red, green, blue = (int(float(part)) for part in text[text.index("(") + 1 : text.index(")")].split(",")[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def test_the_compare_grid_reads_at_body_size_with_enough_contrast(browser: Any, server_factory: Any, save_screenshot: Any, tmp_path: Any) -> None:
    """The bundled demo runs on Compare: every cell's text at least the body text's size, and 4.5:1 against its fill
    (the single-task grid, the page's first chart; the multi-task one is drawn the same way, in a closed expander)."""
    from PIL import Image

    from lengen_core.charts.grid import contrast_ratio

    server = server_factory()
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    page.goto(f"{server.url}/lessons", timeout=90_000)  # imports the bundled demo runs on first use
    page.wait_for_selector("h1:has-text('Lessons')", timeout=90_000)
    wait_idle(page)
    page.goto(f"{server.url}/compare", timeout=90_000)
    page.wait_for_selector("h1:has-text('Compare')", timeout=90_000)
    wait_idle(page)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .annotation-text').length > 4", timeout=60_000)
    assert error_texts(page) == []
    body = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('[data-testid=\"stMarkdownContainer\"] p')).fontSize)")
    shot = tmp_path / "grid.png"
    texts: list = []
    for _ in range(20):  # the chart settles (plotly lays it out again as the page finishes): read it when two looks agree
        time.sleep(0.5)
        before = page.evaluate(GRID_TEXTS)
        page.screenshot(path=str(shot), full_page=True)
        if before == page.evaluate(GRID_TEXTS):
            texts = [text for text in before if text["width"] > 0]
            break
    image = Image.open(shot).convert("RGB")
    scale = image.width / page.evaluate("() => document.documentElement.clientWidth")
    checked = []
    for text in texts:
        assert text["size"] >= body, f"cell text {text['text']!r} is {text['size']} px, the body {body} px"
        # the cell's own fill: just above the text's block, at its centre (inside the cell, off the glyphs)
        x, y = (text["x"] + text["width"] / 2) * scale, (text["y"] - 4) * scale
        fill = "#{:02x}{:02x}{:02x}".format(*image.getpixel((int(x), int(y))))
        ratio = contrast_ratio(_rgb(text["fill"]), fill)
        checked.append((text["text"], round(ratio, 2)))
        assert ratio >= 4.5, f"cell text {text['text']!r} ({text['fill']}) on {fill} at {x:.0f},{y:.0f} of {image.size}: {ratio:.2f}:1 {shot}"
    assert len(checked) >= 5, checked
    save_screenshot(page, "compare")
