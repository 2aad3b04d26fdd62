"""axe-core on the chat page as visitors meet it: a conversation with a rich reply (headings, code,
a table, a list, a quote, math, a link), the settings dialog, and the phone drawer; in both themes
(default and slate), light and dark, at 1280x800 and 390x844. Zero violations of axe's default rules
(WCAG 2 A/AA and best practices).

axe-core comes from npm (node_modules, a test dependency, never part of the site) and is evaluated
in the page by Playwright, which the page's CSP does not govern.
"""

import json
from pathlib import Path

import pytest

from sitegen.commands.build import build
from sitegen.config import load_build_config

from .chat import open_imported, save_screenshot, wait_until_ready
from .conftest import DEMO_MODEL, serve_folder

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
DRAWER_IN_PLACE = "() => document.querySelector('#conversations').getBoundingClientRect().left >= 0"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

RICH_REPLY = """# Paris, in brief

Paris is the capital of **France**, on the *Seine*. See [the city's site](https://www.paris.fr/).

## Numbers

| District | Population | Area (km²) |
| :--- | ---: | ---: |
| 1st | 15,917 | 1.83 |
| 15th | 227,746 | 8.48 |

### Code

```python
def population_density(population: int, area_km2: float) -> float:
    return population / area_km2  # a deliberately long line, so that the block has to scroll sideways on a phone
```

Inline `code`, a list:

1. Louvre
2. Orsay
   - Impressionists

> A quote from the guide.

Math: the density is $\\rho = \\frac{p}{A}$, and

$$\\sum_{i=1}^{20} p_i \\approx 2.1 \\times 10^6$$

#### A fourth-level heading
"""

CONVERSATION = {
    "id": "axe-rich-reply",
    "title": "A rich reply for axe-core",
    "created": 1764460800000,
    "updated": 1764460800000,
    "messages": [
        {"role": "user", "content": "Tell me about Paris, with a table, code and math."},
        {"role": "assistant", "content": RICH_REPLY,
         "reasoning_content": "The visitor wants **facts** about Paris; a table and a formula fit."},
    ],
}


@pytest.fixture(scope="module")
def slate_url(tmp_path_factory):
    out = tmp_path_factory.mktemp("slate") / "site"
    build(load_build_config(None, {"models": (DEMO_MODEL,), "out": out, "theme": "slate"}), log=lambda line: None)
    with serve_folder(out) as url:
        yield url


@pytest.fixture(scope="module")
def axe_source():
    assert AXE.is_file(), f"{AXE} is missing: npm ci installs axe-core (package.json devDependencies)"
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def themed_pages(browser, site_url, slate_url, tmp_path_factory):
    """pages[theme]: one visitor per theme with the rich conversation open (the model loads once each)."""
    contexts, pages = [], {}
    folder = tmp_path_factory.mktemp("axe")
    for theme, url in (("default", site_url), ("slate", slate_url)):
        context = browser.new_context(viewport=SIZES["desktop"])
        contexts.append(context)
        page = pages[theme] = context.new_page()
        page.goto(url)
        wait_until_ready(page)
        open_imported(page, folder, CONVERSATION)
        page.wait_for_selector(".message.assistant math")
        # The reasoning is there, folded away: opened, it is axe-checked too.
        reasoning = page.locator(".message.assistant .message-reasoning")
        assert reasoning.evaluate("details => !details.hidden && !details.open")
        reasoning.locator("summary").click()
        assert reasoning.locator("strong").inner_text() == "facts"
    yield pages
    for context in contexts:
        context.close()


def axe_violations(page, axe_source):
    """axe-core's violations on the page as it is: [(rule id, impact, help, [target, ...]), ...]."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    results = page.evaluate("async () => JSON.stringify((await axe.run(document)).violations)")
    return [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]]) for v in json.loads(results)]


@pytest.mark.parametrize("theme", ["default", "slate"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_axe_finds_nothing(themed_pages, axe_source, theme, scheme, size):
    page = themed_pages[theme]
    page.set_viewport_size(SIZES[size])
    page.emulate_media(color_scheme=scheme)
    name = f"axe-{theme}-{scheme}-{size}"
    save_screenshot(page, name)
    assert axe_violations(page, axe_source) == [], name
    page.click(".open-settings")
    save_screenshot(page, f"{name}-settings")
    assert axe_violations(page, axe_source) == [], f"{name} with the settings open"
    page.keyboard.press("Escape")
    if size == "phone":
        page.click(".toggle-sidebar")
        page.wait_for_function(DRAWER_IN_PLACE)  # it slides in
        save_screenshot(page, f"{name}-drawer")
        assert axe_violations(page, axe_source) == [], f"{name} with the drawer open"
        page.keyboard.press("Escape")
