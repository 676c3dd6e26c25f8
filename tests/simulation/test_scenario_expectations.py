"""``expect`` bounds are written in the unit the KPI table prints: ``min: 90`` on a KPI
shown in % means 90 %, although the figure is kept as a fraction (0.9). Bounds that
can never be met together (``min > max``) or lie outside 0..100 % are refused at load."""

from __future__ import annotations

import pytest

from carefleet.cli import main
from carefleet.errors import InputError
from carefleet.simulation.kpi import KPI_DEFINITIONS
from carefleet.simulation.scenario import Expectation, load_scenario

PERCENT_KPIS = sorted(key for key, (_, unit, _) in KPI_DEFINITIONS.items() if unit == "%")
FIRST = "{kpi: meals_delivered, min: 4}"          # expect[0], line 23 of the minimal scenario
SECOND = "{kpi: tasks_lost, max: 0}"              # expect[1], line 24


def test_the_percent_kpis_are_the_shares_and_the_battery():
    assert PERCENT_KPIS == ["meals_on_time_share", "min_battery", "robot_utilisation"]


def loaded(write_scenario, expectation: str) -> Expectation:
    return load_scenario(write_scenario((FIRST, expectation))).expectations[0]


@pytest.mark.parametrize("kpi", PERCENT_KPIS)
@pytest.mark.parametrize("bound, measured, passed", [
    ("min: 90", 0.95, True), ("min: 90", 0.9, True), ("min: 90", 0.85, False),
    ("max: 50", 0.6, False), ("max: 50", 0.5, True), ("max: 50", 0.2, True),
    ("min: 29, max: 29", 0.29, True), ("min: 28", 7 / 25, True), ("min: 100", 1.0, True),
    ("max: 0", 0.0, True), ("max: 0", 0.001, False),
])
def test_percent_bounds_are_read_in_percent(write_scenario, kpi, bound, measured, passed):
    expectation = loaded(write_scenario, f"{{kpi: {kpi}, {bound}}}")
    assert expectation.judge(measured)[0] is passed


def test_percent_expectation_is_named_and_measured_in_percent(write_scenario):
    expectation = loaded(write_scenario, "{kpi: meals_on_time_share, min: 90, max: 99.5}")
    assert expectation.name == "meals_on_time_share >= 90 % and <= 99.5 %"
    assert expectation.judge(0.9583) == (True, "measured 95.83 %")
    assert expectation.judge(None) == (False, "no data")


def test_other_units_are_unchanged(write_scenario):
    expectation = loaded(write_scenario, "{kpi: fall_response_max_s, max: 180}")
    assert expectation.judge(179.9)[0] and not expectation.judge(180.5)[0]
    assert expectation.name == "fall_response_max_s <= 180"
    counted = loaded(write_scenario, "{kpi: meals_delivered, min: 4, max: 4}")
    assert counted.judge(4) == (True, "measured 4")


def test_a_run_is_judged_in_percent(write_scenario, runner):
    """The minimal morning keeps its two robots busy about 4 % of the time and serves
    5 of its 6 breakfasts on time (83 %)."""
    path = write_scenario((FIRST, "{kpi: robot_utilisation, min: 2, max: 10}"),
                          (SECOND, "{kpi: meals_on_time_share, max: 50}"))
    run = runner(path)
    assert 0.02 <= run.kpis["robot_utilisation"] <= 0.10
    assert run.kpis["meals_on_time_share"] > 0.5
    assert [(name, passed) for name, passed, _ in run.verdicts] == [
        ("robot_utilisation >= 2 % and <= 10 %", True),
        ("meals_on_time_share <= 50 %", False)]


@pytest.mark.parametrize("old, new, field, line, words", [
    (SECOND, "{kpi: tasks_lost, min: 2, max: 1}", "expect[1].min", 24,
     "min 2 is greater than max 1"),
    (FIRST, "{kpi: meals_on_time_share, min: 95, max: 90}", "expect[0].min", 23,
     "min 95 is greater than max 90"),
    (FIRST, "{kpi: robot_utilisation, min: 150}", "expect[0].min", 23, "0..100"),
    (FIRST, "{kpi: min_battery, max: -5}", "expect[0].max", 23, "0..100"),
    (FIRST, "{kpi: meals_on_time_share, min: 0.9}", "expect[0].min", 23, "write 90 for 90 %"),
], ids=["min_above_max", "percent_min_above_max", "percent_above_100", "percent_below_0",
        "fraction_for_a_percent"])
def test_impossible_bounds_are_refused_at_load(write_scenario, capsys, old, new, field, line,
                                               words):
    path = write_scenario((old, new))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert "\n" not in text and words in text, text
    assert (caught.value.field, caught.value.line) == (field, line)
    assert text.startswith(f"{path}:{line}: {field}: ")
    assert main(["sim", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"carefleet: error: {path}:{line}: ")


def test_equal_bounds_and_zero_percent_are_fine(write_scenario):
    expectation = loaded(write_scenario, "{kpi: robot_utilisation, min: 0, max: 0}")
    assert expectation.judge(0.0)[0] and not expectation.judge(0.01)[0]
