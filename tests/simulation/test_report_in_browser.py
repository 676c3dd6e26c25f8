"""The HTML report as a person sees it: rendered by a real headless Chromium.

Chromium is a Debian package that `make test` installs; where it cannot be had the
test is skipped with the reason (it is never replaced by a fake browser).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from carefleet.cli import main

SCENARIO = Path(__file__).resolve().parents[2] / "simulation" / "scenarios" / "demo_day.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo.html"
    assert main(["sim", str(SCENARIO), "--quiet", "--report", str(out)]) == 0
    return out


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_browser_renders_the_verdict_and_tables(report: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", report.as_uri()).stdout
    assert "PASS" in dom and "Demo day" in dom
    assert "meals_on_time_share &gt;= 85 %" in dom
    assert dom.count("<img") >= 3   # timeline, meal chart, ward map


def _green_pixels(page: Path, tmp: Path) -> int:
    shot = tmp / f"{page.stem}.png"
    _chromium(tmp, "--window-size=1300,2400", f"--screenshot={shot}", page.as_uri())
    picture = cv2.imread(str(shot))
    assert picture is not None and picture.shape[:2] == (2400, 1300)
    hsv = cv2.cvtColor(picture, cv2.COLOR_BGR2HSV)
    return int(np.count_nonzero(cv2.inRange(hsv, np.array([45, 80, 80]), np.array([75, 255, 220]))))


def test_the_embedded_pictures_are_decoded_and_drawn(report: Path, tmp_path: Path) -> None:
    """The timeline's green charging bars and the meal chart's green dots are pixels of
    the embedded PNGs: without the images far fewer green pixels remain (badges only)."""
    blind = tmp_path / "blind.html"
    blind.write_text(re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', report.read_text()))
    with_pictures, without = _green_pixels(report, tmp_path), _green_pixels(blind, tmp_path)
    assert with_pictures - without > 2000
