"""The simulation's figures, verdicts, timeline and report in every language (``carefleet
sim --language zh``): every text of the report book exists in each language with the
same placeholders, every figure has a name and a meaning, and a Chinese run reads
Chinese where the words are the report's own (names, ids and free text from the core
and the scenario stay as they are)."""

from __future__ import annotations

import re
import string
import warnings
from pathlib import Path

import pytest

from carefleet.cli import main
from carefleet.messages import LANGUAGES, STRINGS, catalogue
from carefleet.simulation.kpi import KPI_DEFINITIONS, format_kpi_table, kpi_label, kpi_meaning
from carefleet.simulation.report import CJK_FONT, timeline_png, words
from carefleet.simulation.scenario import load_scenario
from carefleet.simulation.simulator import Simulation

SCENARIOS = Path(load_scenario.__code__.co_filename).parent / "scenarios"
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _fields(template: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(template) if name)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_the_report_book_has_every_text_with_the_same_placeholders(language: str) -> None:
    english, other = catalogue("en", "report"), catalogue(language, "report")
    assert set(english) <= set(other), sorted(set(english) - set(other))
    for key, text in english.items():
        assert _fields(text) == _fields(other[key]), key
    for key in KPI_DEFINITIONS:
        assert kpi_label(key, language) != KPI_DEFINITIONS[key][0], key
        assert kpi_meaning(key, language) != KPI_DEFINITIONS[key][2], key
    if language == "zh":
        for key, text in other.items():
            if key not in ("pass", "fail") and not key.startswith("meals.service"):
                assert not LATIN_WORD.search(re.sub(r"\{\w+\}", "", text)
                                             .replace("SpO2", "")), key
    assert (STRINGS / "report" / f"{language}.json").is_file()


def test_an_unknown_language_is_refused_before_anything_runs() -> None:
    with pytest.raises(Exception, match="'xx' is not one of"):
        words("xx")


def test_a_chinese_run_prints_and_reports_in_chinese(tmp_path: Path, capsys) -> None:
    report = tmp_path / "day.html"
    code = main(["sim", str(SCENARIOS / "fall_during_lunch.yaml"), "--language", "zh",
                 "--report", str(report), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "准时送餐" in out and "跌倒响应（最长）" in out
    assert re.search(r"^通过  meals_delivered >= 92  \(实测 \d+\)$", out, re.M)
    page = report.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page
    for heading in ("预期", "关键指标", "机器人的一天", "送餐", "机器人", "病区地图", "任务",
                    "员工通知"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "<th>指标</th><th>数值</th><th>含义</th>" in page
    assert "<h2>Key figures</h2>" not in page


def test_the_chinese_timeline_draws_every_glyph() -> None:
    """The charts fall back to a CJK font for Chinese labels (none drawn as boxes)."""
    from matplotlib import font_manager
    if CJK_FONT not in {f.name for f in font_manager.fontManager.ttflist}:
        pytest.skip(f"{CJK_FONT} is not installed (Debian: fonts-noto-cjk)")
    scenario = load_scenario(SCENARIOS / "fall_during_lunch.yaml")
    simulation = Simulation(scenario, language="zh")
    try:
        result = simulation.run()
    finally:
        simulation.close()
    assert any("跌倒" in h.text for h in result.happenings)      # the timeline's own words
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = timeline_png(result, words("zh"))
    assert png.startswith(b"\x89PNG")
    assert [str(w.message) for w in caught if "missing from" in str(w.message)] == []


def test_the_kpi_table_lines_up_wide_characters() -> None:
    """Counts and "n/a" carry no unit, so each such line is equally wide on a terminal
    (in GBK, as on one, a Chinese character takes two columns)."""
    kpis = {key: None for key in KPI_DEFINITIONS} | {"meals_delivered": 12, "falls": 1}
    lines = format_kpi_table(kpis, "zh").splitlines()
    assert len(lines) == len(KPI_DEFINITIONS) and lines[1].endswith(" 12")
    assert len({len(line.encode("gbk")) for line in lines}) == 1
