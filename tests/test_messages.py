"""Every staff message exists in every language with the same parameters."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.errors import InputError
from carefleet.messages import LANGUAGES, catalogue, render

CORE = (Path(__file__).resolve().parents[1] / "orchestrator" / "core.py").read_text()


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_the_core_sends_is_in_every_language() -> None:
    used = set(re.findall(r'_notify\(\s*[\w.]+,\s*"(\w+)"', CORE))
    assert used
    for language in LANGUAGES:
        assert used <= set(catalogue(language)), language


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_use_the_same_parameters_as_english(language: str) -> None:
    english = catalogue("en")
    assert set(catalogue(language)) == set(english)
    for key, template in catalogue(language).items():
        assert _fields(template) == _fields(english[key]), (language, key)


def test_render_in_chinese() -> None:
    text = render("robot_fault", {"robot": "tray_2", "reason": "drive failure"}, "zh")
    assert text == "tray_2故障：drive failure"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InputError, match="'fr' is not one of: en, zh"):
        render("robot_fault", {"robot": "r", "reason": "x"}, "fr")


def test_sim_reports_staff_notifications_in_the_chosen_language(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parents[1] / "simulation/scenarios/fall_during_lunch.yaml"
    assert main(["sim", str(scenario), "--quiet", "--language", "zh",
                 "--json", str(tmp_path / "r.json")]) == 0
    texts = [n["text"] for n in json.loads((tmp_path / "r.json").read_text())["notifications"]]
    assert "Room 209疑似有人跌倒（来源：wearable）" in texts
