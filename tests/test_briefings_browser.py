"""Briefing pages in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
Playwright, which never downloads a browser of its own.

Every page the build writes (the quarter's index and each pack) is opened from its file:// URL
in an offline browser context and must render with no console error, no page error and no
request for anything but itself and its data: images; each chart must decode and draw
something. A full-page screenshot of each is saved under the test's temporary folder.
"""

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from test_briefings import LATEST_QUARTER, TOP_N, Built, shared_build

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return shared_build(tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def distinct_colours(png: bytes) -> int:
    with Image.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours or [])


def open_page(browser: Browser, path: Path, shot: Path) -> tuple[Page, list[str]]:
    """Open `path` offline; return the page and every problem seen while it loaded."""
    context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(("file://", "data:"))
            else problems.append(f"request: {request.url}")
        ),
    )
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.screenshot(path=str(shot), full_page=True)
    return page, problems


def assert_charts_drawn(page: Page, expected: int) -> None:
    charts = page.locator("img.chart")
    assert charts.count() == expected
    for i in range(expected):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        natural = chart.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert natural[0] and natural[1] > 0 and natural[2] > 0, f"chart {i} did not decode"
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, box
        assert (chart.get_attribute("alt") or "").strip(), f"chart {i} has no alt text"
        # a drawn chart has axes, lines and text, not one flat colour
        assert distinct_colours(chart.screenshot()) > 20, f"chart {i} looks empty"


def test_index_page_renders_offline_with_a_chart(
    built: Built, browser: Browser, tmp_path: Path
) -> None:
    shot = tmp_path / "index.png"
    page, problems = open_page(browser, built.folder(LATEST_QUARTER) / "index.html", shot)
    try:
        assert problems == []
        assert_charts_drawn(page, 1)
        assert page.locator("html").get_attribute("lang") == "en-GB"
        rows = page.locator("#watchlist tbody tr")
        assert rows.count() == built.watchlist(LATEST_QUARTER).filter(~pl.col("known_case")).height
        # the first pack link opens that council's pack
        link = page.locator("#watchlist a").first
        name = link.inner_text()
        link.click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == name
        assert problems == []
    finally:
        page.context.close()
    assert shot.stat().st_size > 10_000


def test_every_pack_renders_offline_with_its_charts(
    built: Built, browser: Browser, tmp_path: Path
) -> None:
    packs = sorted(built.folder(LATEST_QUARTER).glob("E*.html"))
    assert len(packs) == TOP_N
    flags = built.flags(LATEST_QUARTER)
    for path in packs:
        shot = tmp_path / f"{path.stem}.png"
        page, problems = open_page(browser, path, shot)
        try:
            assert problems == [], path.name
            n_flags = flags.filter((flags["council_code"] == path.stem) & flags["flagged"]).height
            assert_charts_drawn(page, n_flags)
            assert page.get_by_role("note").first.is_visible()
            assert page.locator("h2#why").is_visible()
        finally:
            page.context.close()
        assert shot.stat().st_size > 10_000, path.name
