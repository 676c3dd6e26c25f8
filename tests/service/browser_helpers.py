"""A real headless Chromium for the dashboard tests, kept on this machine.

Debian's ``chromium`` is driven by Playwright for Python (no browser download), with
every host name but 127.0.0.1 resolving to nothing, and every request the page makes to
anywhere else stopped and recorded, so a test can assert that nothing left the machine.
axe-core comes from npm (``npm pack``, into a temporary folder, once per run) and is
injected into the page; where npm or the registry is missing those checks are skipped.

(Test modules import helpers from here, never from ``conftest``.)
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox",
               "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
AXE = "axe-core@4.14.1"
WAIT = 60_000                  # ms: a guard for a loaded machine, never a speed claim
#: Where screenshots go: docs/screenshots when asked (README), else the test's tmp folder.
SHOTS = os.environ.get("CAREFLEET_SCREENSHOTS")


def _service_conftest() -> Any:
    """The service tests' server starter (loaded by path: several folders have a conftest)."""
    spec = importlib.util.spec_from_file_location("carefleet_service_conftest", HERE / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)            # type: ignore[union-attr]
    return module


serving = _service_conftest()


def have_chromium() -> bool:
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)


@dataclass
class Guard:
    """Every request a browser context makes: local ones pass, any other is stopped."""

    stopped: list[str] = field(default_factory=list)

    def __call__(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.stopped.append(url)
            route.abort()


def new_page(browser: Any, guard: Guard, *, width: int = 1280, height: int = 960) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB",
                                  timezone_id="Europe/London", accept_downloads=True)
    context.route("**/*", guard)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors                     # type: ignore[attr-defined]
    return page


def expect(locator: Any, **kwargs: Any) -> Any:
    """Playwright's ``expect``: it waits for what the page shows, up to its timeout."""
    from playwright.sync_api import expect as playwright_expect
    return playwright_expect(locator, **kwargs)


def log_in(page: Any, url: str, name: str, password: str | None = None) -> None:
    from playwright.sync_api import expect
    page.goto(url + "/")
    page.fill("#login-user", name)
    page.fill("#login-password", password or serving.PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible(timeout=WAIT)
    expect(page.locator("#map .robot").first).to_be_attached(timeout=WAIT)


def screenshot(page: Any, name: str, tmp: Path, *, full_page: bool = False) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


# == no English left ============================================================
#: Latin words in what the page shows, outside names kept as they are (translate="no":
#: robot ids, user names, the brand) -- in visible text, placeholders and labels.
_LATIN_LEFT = """() => {
  const found = [];
  const skip = (el) => !el || el.closest('[translate="no"], script, style, title');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (skip(el)) continue;
    const shown = el.tagName === 'OPTION' ? el.closest('select').checkVisibility()
                                          : el.checkVisibility({visibilityProperty: true});
    if (!shown) continue;
    for (const word of node.textContent.match(/[A-Za-z]{2,}/g) || []) found.push(word + ' <' + el.tagName + '>');
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
    if (skip(el) || !el.checkVisibility()) continue;
    for (const attr of ['placeholder', 'aria-label', 'title']) {
      for (const word of (el.getAttribute(attr) || '').match(/[A-Za-z]{2,}/g) || []) found.push(word + ' @' + attr);
    }
  }
  return found;
}"""


def english_left(page: Any) -> list[str]:
    return page.evaluate(_LATIN_LEFT)


# == axe-core ===================================================================
def axe_script(folder: Path) -> Path:
    """axe.min.js from npm, unpacked into ``folder``; the test is skipped without npm."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: axe-core cannot be fetched")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "pack", AXE, "--pack-destination", str(folder), "--silent"],
                              capture_output=True, text=True, timeout=180, cwd=folder, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("npm pack axe-core took too long (no registry?)")
    tarballs = sorted(folder.glob("axe-core-*.tgz"))
    if done.returncode != 0 or not tarballs:
        pytest.skip(f"npm pack {AXE} failed: {done.stderr.strip()[:200]}")
    with tarfile.open(tarballs[-1]) as archive:
        member = archive.getmember("package/axe.min.js")
        member.name = "axe.min.js"
        archive.extract(member, folder, filter="data")
    return folder / "axe.min.js"


def axe(page: Any, script: Path, *, enhanced: bool = False) -> dict[str, list[dict]]:
    """Run axe on the page as it is; ``enhanced`` also checks text contrast at 7:1 (AAA)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    options = {"resultTypes": ["violations"]}
    if enhanced:
        options["rules"] = {"color-contrast-enhanced": {"enabled": True}}
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    return {"violations": result["violations"], "incomplete": result.get("incomplete", [])}


def serious(violations: list[dict]) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {v['help']} -- "
            + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                        for n in v["nodes"][:5])
            for v in violations if v.get("impact") in ("serious", "critical")]


def described(violations: list[dict]) -> list[str]:
    def node(n: dict) -> str:
        return f"{n['target']} {' '.join(n.get('failureSummary', '').split())[:160]}"
    return [f"{v['id']} ({v['impact']}): " + "; ".join(node(n) for n in v["nodes"][:5])
            for v in violations]


# == contrast of SVG text (which axe leaves "incomplete") =========================
_SVG_TEXT = """() => {
  const out = [];
  for (const text of document.querySelectorAll('svg text')) {
    if (!text.checkVisibility() || !text.textContent.trim()) continue;
    const kind = text.classList.contains('room-label') ? '.room'
               : text.classList.contains('robot-symbol') ? '.robot-body' : null;
    const under = kind && text.parentElement.querySelector(`:scope > ${kind}`);
    const floor = text.closest('svg').querySelector('.floor-bg');
    const bg = under ? getComputedStyle(under).fill
             : floor ? getComputedStyle(floor).fill
             : getComputedStyle(text.closest('.card, body')).backgroundColor;
    out.push([text.textContent, text.getAttribute('class') || '', getComputedStyle(text).fill, bg]);
  }
  return out;
}"""


def _luminance(colour: str) -> float:
    channels = [float(v) for v in re.findall(r"[\d.]+", colour)[:3]]
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
              for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def svg_text_below(page: Any, ratio: float) -> list[str]:
    """SVG texts (map labels, chart labels) whose fill is below ``ratio`` on what is under them."""
    return [f"{text!r} ({cls}): {fg} on {bg} = {contrast(fg, bg):.1f}:1"
            for text, cls, fg, bg in page.evaluate(_SVG_TEXT) if contrast(fg, bg) < ratio]
