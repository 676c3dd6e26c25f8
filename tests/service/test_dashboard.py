"""The staff dashboard and the bedside call page, in a real headless Chromium against a
real ``carefleet serve --demo`` with simulated robots on a fast clock.

Nothing leaves the machine: Chromium resolves no host but 127.0.0.1, and every request a
page makes elsewhere is stopped and recorded (asserted empty after each test). Nothing
sleeps a fixed time: Playwright's ``expect`` waits for what the page shows. Screenshots go
to the test's tmp folder, or to ``docs/screenshots`` with ``CAREFLEET_SCREENSHOTS=docs/screenshots``
(the README's pictures).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from carefleet.service.api import page_strings
from browser_helpers import (
    WAIT,
    Guard,
    axe,
    axe_script,
    described,
    english_left,
    expect,
    have_chromium,
    log_in,
    new_page,
    screenshot,
    serious,
    serving,
    svg_text_below,
)

pytestmark = pytest.mark.skipif(not have_chromium(), reason="chromium or playwright is not installed")

USERS = {"anna": "nurse", "vic": "viewer"}
STATIC = Path(__file__).resolve().parents[2] / "service" / "static"
STRINGS = Path(__file__).resolve().parents[2] / "carefleet" / "strings"
VIEWS = ("ward", "schedules", "today", "history", "devices")


# == fixtures ===================================================================
@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[serving.Served]:
    """One demo ward for the module, 30 times faster than real time, with a device token
    for room 203's bedside tablet."""
    store = tmp_path_factory.mktemp("dashboard") / "ward.db"
    for name, role in USERS.items():
        serving.add_user(store, name, role)
    made = subprocess.run([*serving.CARE, "users", "token", "room_203", "--role", "device",
                           "--store", str(store)], capture_output=True, text=True, check=True)
    served = serving.start_serve(store, "--demo", "--speed", "30")
    for name in USERS:
        served.login(name)
    served.device_token = made.stdout.strip()          # type: ignore[attr-defined]
    yield served
    served.stop()


@pytest.fixture(scope="session")
def axe_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return axe_script(tmp_path_factory.mktemp("axe"))


# == the string tables (no browser) ===============================================
def test_every_text_exists_in_both_languages_with_the_same_placeholders() -> None:
    tables = page_strings()
    assert set(tables) == {"en", "zh"}
    assert set(tables["en"]) == set(tables["zh"])
    holes = lambda text: sorted(re.findall(r"\{(\w+)\}", text))
    for key, english in tables["en"].items():
        assert holes(english) == holes(tables["zh"][key]), key
        assert not re.search(r"[\u3400-\u9fff]", english), key
        assert not re.search(r"[A-Za-z]{2,}", re.sub(r"\{\w+\}", "", tables["zh"][key])), key
    # every message the service can raise is on the page, from its key and params
    service = {lang: json.loads((STRINGS / f"{lang}.json").read_text(encoding="utf-8"))
               for lang in ("en", "zh")}
    for lang in ("en", "zh"):
        served = {k[4:]: v for k, v in tables[lang].items() if k.startswith("msg.")}
        assert served == service[lang]
    own = json.loads((STATIC / "i18n.json").read_text(encoding="utf-8"))
    assert not any(k.startswith("msg.") for lang in own for k in own[lang])   # no copies
    # every key the page's code asks for exists
    code = "\n".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.js"))
    pages = "\n".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.html"))
    asked = set(re.findall(r"""\bt(?:Nodes)?\(['"]([a-z_]+(?:\.[a-z_0-9]+)+)['"]""", code))
    asked |= set(re.findall(r'data-i18n="([^"]+)"', pages))
    asked |= {k for pair in re.findall(r'data-i18n-attr="([^"]+)"', pages)
              for k in [p.split(":")[1] for p in pair.split(";")]}
    assert asked - set(tables["en"]) == set()


def test_the_page_ships_as_plain_files_that_reach_nowhere_else() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert not re.search(r"""from\s+['"](https?:)?//""", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name


# == the staff's day ================================================================
def test_a_nurse_sends_a_meal_watches_it_and_answers_a_fall_from_the_alert_bar(
        ward, page, tmp_path: Path) -> None:
    log_in(page, ward.url, "anna")
    expect(page.locator("#map .robot")).to_have_count(3)
    expect(page.locator("#map .place.kind-resident_room")).to_have_count(32)
    expect(page.locator('#map [data-place="room_203"] .room-label')).to_have_text("203")

    # a meal to room 203, by clicking
    page.select_option("#meal-room", "room_203")
    page.click("form[data-request=meal] button[type=submit]")
    expect(page.locator("form[data-request=meal] .form-status")).to_contain_text("Room 203")
    task_id = page.wait_for_function("""() => [...window.carefleet.state.tasks.values()]
        .find((t) => t.kind === 'meal_delivery' && t.id.startsWith('ui-') && t.robot)?.id""",
                                     timeout=WAIT).json_value()
    card = page.locator(f'.task[data-task="{task_id}"]')
    expect(card.locator(".task-robot")).to_contain_text(re.compile(r"tray_\d"))
    robot_id = page.evaluate(f"window.carefleet.state.tasks.get('{task_id}').robot")
    created = ward.clients["anna"].get(f"/api/tasks/{task_id}").json()
    expect(card.locator(".task-meta")).to_contain_text(created["created_local"][11:16])  # ward time

    # the robot moves on the map, and the meal ends in the done column
    robot = page.locator(f'#map .robot[data-robot="{robot_id}"]')
    start = robot.get_attribute("data-pos"), robot.evaluate("g => g.style.transform")
    expect(robot).not_to_have_attribute("data-pos", start[0], timeout=WAIT)
    assert robot.evaluate("g => g.style.transform") != start[1]
    expect(page.locator(f'#col-done .task[data-task="{task_id}"]')).to_have_attribute(
        "data-state", "completed", timeout=WAIT)

    # a fall reported in room 114: on top, flashing red on the map, escalating unanswered
    page.select_option("#fall-room", "room_114")
    page.click("form[data-request=fall] button[type=submit]")
    alert = page.locator('.alert[data-key="fall_detected"][data-place="room_114"]')
    expect(alert).to_have_attribute("data-priority", "high", timeout=WAIT)
    expect(alert.locator(".alert-what")).to_contain_text("Possible fall in Room 114")
    expect(page.locator('#map [data-place="room_114"]')).to_have_class(re.compile(r"\balarm-high\b"))
    expect(alert.locator(".alert-robot")).to_contain_text(re.compile(r"\w+_\d (is on its way|is there)"))
    expect(alert).to_have_class(re.compile(r"\bescalated\b"), timeout=WAIT)   # 60 s of ward time
    expect(alert.locator(".alert-ago")).to_have_text(re.compile(r"min ago|just now"))
    screenshot(page, "dashboard-en", tmp_path)

    # acknowledge, then resolve, each with the one large button
    alert.locator("button.answer").click()
    expect(alert).to_have_attribute("data-state", "acknowledged")
    expect(alert.locator("button.answer")).to_have_text("Resolve")
    alert.locator("button.answer").click()
    expect(alert).to_have_count(0)
    expect(page.locator('#map [data-place="room_114"]')).not_to_have_class(re.compile("alarm-"))
    stored = [a for a in ward.clients["anna"].get("/api/alerts?include_resolved=true").json()
              if a["key"] == "fall_detected" and a["place"] == "room_114"]
    assert [(a["acknowledged_by"], a["resolved_by"]) for a in stored] == [("staff:anna", "staff:anna")]


def test_help_on_the_call_page_reaches_the_dashboard_and_says_a_nurse_is_coming(
        ward, browser, guard: Guard, tmp_path: Path) -> None:
    dashboard = new_page(browser, guard)
    log_in(dashboard, ward.url, "anna")
    tablet = new_page(browser, guard, width=800, height=1000)
    tablet.goto(f"{ward.url}/call/room_203#token={ward.device_token}")
    expect(tablet.locator("body")).to_have_attribute("data-call", re.compile("none|resolved"))
    assert "token" not in tablet.url                       # kept on the tablet, not in the address
    expect(tablet.locator("#call-room")).to_have_text("Room 203")
    assert "large" in tablet.locator("html").get_attribute("class")

    tablet.click("#help")
    expect(tablet.locator("body")).to_have_attribute("data-call", "raised")
    alert = dashboard.locator('.alert[data-key="call_button"][data-place="room_203"]')
    expect(alert).to_have_attribute("data-priority", "medium", timeout=WAIT)
    expect(alert.locator(".alert-what")).to_contain_text("Call button pressed in Room 203")
    expect(alert.locator(".alert-robot")).to_contain_text(re.compile(r"\w+_\d"))  # help sends a robot
    alert.locator("button.answer").click()
    expect(tablet.locator("body")).to_have_attribute("data-call", "acknowledged", timeout=WAIT)
    expect(tablet.locator("#call-status")).to_have_text("A nurse is coming")
    screenshot(tablet, "call-page-en", tmp_path)
    tablet.click("#lang")
    expect(tablet.locator("#call-status")).to_have_text("护士正在赶来")
    assert english_left(tablet) == []
    screenshot(tablet, "call-page-zh", tmp_path)

    alert.locator("button.answer").click()
    expect(alert).to_have_count(0)
    tablet.goto(f"{ward.url}/call/room_203")                # the token was kept
    expect(tablet.locator("body")).to_have_attribute("data-call", "resolved", timeout=WAIT)
    tablet.click("[data-request=water]")                   # water: a low call for staff, no robot
    expect(dashboard.locator('.alert[data-key="call_water"][data-place="room_203"]')).to_have_attribute(
        "data-priority", "low", timeout=WAIT)
    tablet.goto(f"{ward.url}/call/room_204#token={ward.device_token}")   # another room's tablet
    expect(tablet.locator("body")).to_have_attribute("data-call", "problem")
    for tab in (dashboard, tablet):
        assert tab.errors == [], tab.errors
        tab.context.close()


def test_in_zh_no_english_is_left_and_both_choices_are_remembered(ward, page, tmp_path: Path) -> None:
    anna = ward.clients["anna"]
    for room, request in (("room_105", "water"), ("room_208", "toilet")):
        assert anna.post(f"/api/call/{room}", json={"request": request}).status_code == 200
    log_in(page, ward.url, "anna")
    expect(page.locator('.alert[data-place="room_208"]')).to_be_visible()
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator('.alert[data-place="room_105"] .alert-what')).to_have_text("105号房需要喝水")
    ready = {"ward": "#robot-cards .robot-card", "schedules": "#schedule-rows tr",
             "today": "#kpi-tiles .kpi", "history": "#audit-rows tr", "devices": "#rule-rows tr"}
    for view in VIEWS:
        page.click(f'#tabs [data-view="{view}"]')
        expect(page.locator(ready[view]).first).to_be_visible(timeout=WAIT)
        assert english_left(page) == [], view
    page.click('#tabs [data-view="ward"]')
    expect(page.locator("#robot-cards .robot-card").first).to_be_visible()
    screenshot(page, "dashboard-zh", tmp_path)

    page.click("#large")
    expect(page.locator("html")).to_have_class(re.compile(r"\blarge\b"))
    assert float(page.evaluate("getComputedStyle(document.documentElement).fontSize")[:-2]) >= 22
    height = page.locator("button.answer").first.bounding_box()["height"]
    assert height >= 64 * 1.2
    screenshot(page, "dashboard-zh-large", tmp_path)
    page.reload()                                          # both choices stay on this device
    expect(page.locator("#app")).to_be_visible(timeout=WAIT)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("html")).to_have_class(re.compile(r"\blarge\b"))
    expect(page.locator('.alert[data-place="room_208"] .alert-what')).to_have_text("208号房需要协助如厕")
    page.click("#lang")
    expect(page.locator('.alert[data-place="room_208"] .alert-what')).to_have_text(
        "Room 208 needs help to the toilet")
    screenshot(page, "dashboard-en-large", tmp_path)
    page.click("#large")
    page.click("#lang")


def test_a_viewer_is_not_offered_what_it_may_not_do(ward, page) -> None:
    anna = ward.clients["anna"]
    anna.post("/api/call/room_110", json={"request": "meal"})
    anna.post("/api/tasks", json={"kind": "patrol", "checkpoints": ["room_101", "room_116"],
                                  "rounds": 20, "id": "long-round"})
    log_in(page, ward.url, "vic")
    expect(page.locator('.alert[data-place="room_110"]')).to_be_visible()
    expect(page.locator('.task[data-task="long-round"]')).to_be_visible()
    expect(page.locator("#who")).to_contain_text("viewer")
    expect(page.locator(".forms-card")).to_be_hidden()
    for control in (".alert button", ".task button", ".robot-card button"):
        expect(page.locator(control)).to_have_count(0)
    page.click('#tabs [data-view="schedules"]')
    expect(page.locator("#schedule-rows tr").first).to_be_visible()
    expect(page.locator("#schedule-rows button")).to_have_count(0)
    expect(page.locator("#schedule-form")).to_be_hidden()


def test_staff_cancel_with_a_reason_pause_a_robot_edit_a_schedule_and_export_the_audit(
        ward, page) -> None:
    log_in(page, ward.url, "anna")
    page.select_option("#patrol-area", "F2")
    page.click("form[data-request=patrol] button[type=submit]")
    task_id = page.wait_for_function("""() => [...window.carefleet.state.tasks.values()]
        .find((t) => t.kind === 'patrol' && t.id.startsWith('ui-'))?.id""", timeout=WAIT).json_value()
    page.locator(f'.task[data-task="{task_id}"] button.cancel').click()
    page.check('#cancel-form input[value="asleep"]')
    page.click('#cancel-form button[value="ok"]')
    done = page.locator(f'#col-done .task[data-task="{task_id}"]')
    expect(done).to_have_attribute("data-state", "cancelled", timeout=WAIT)
    expect(done.locator(".task-reason")).to_contain_text("Resident is asleep")

    card = page.locator('.robot-card[data-robot="tray_2"]')
    card.locator("button.pause").click()
    expect(card.locator(".pill.held")).to_have_text("paused")
    assert ward.clients["anna"].get("/api/robots/tray_2").json()["held"] is True
    card.locator("button.resume").click()
    expect(card.locator(".pill.held")).to_have_count(0)

    page.click('#tabs [data-view="schedules"]')
    page.fill("#sched-name", "tea")
    page.fill("#sched-at", "15:30")
    page.select_option("#sched-places", ["room_101", "room_102"])
    page.click("#schedule-form button[type=submit]")
    expect(page.locator('#schedule-rows tr[data-schedule="tea"]')).to_contain_text("15:30")
    assert {"tea"} <= {s["name"] for s in ward.clients["anna"].get("/api/schedules").json()}

    page.click('#tabs [data-view="history"]')
    page.select_option("#history-form select[name=kind]", "patrol")
    page.select_option("#history-form select[name=state]", "cancelled")
    page.click("#history-form button[type=submit]")
    expect(page.locator(f'#history-rows tr[data-task="{task_id}"]')).to_contain_text("Patrol")
    expect(page.locator("#history-rows tr")).to_have_count(1)
    page.fill("#audit-form input[name=text]", "staff:anna")
    expect(page.locator("#audit-rows tr").first).to_contain_text("staff:anna")
    with page.expect_download() as waiting:
        page.click("#audit-export")
    lines = Path(waiting.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "time,local_time,who,what,task,robot,detail"
    assert len(lines) > 1 and all("staff:anna" in line for line in lines[1:])


# == accessibility ====================================================================
def test_axe_finds_nothing_serious_in_either_mode_and_large_text_has_7_to_1(
        ward, page, axe_js: Path) -> None:
    page.goto(ward.url + "/")
    expect(page.locator("#login-view")).to_be_visible(timeout=WAIT)
    found = {"login": axe(page, axe_js)}
    log_in(page, ward.url, "anna")
    for large in (False, True):
        if large:
            page.click("#large")
        for view in VIEWS:
            page.click(f'#tabs [data-view="{view}"]')
            expect(page.locator(f'[data-panel="{view}"]')).to_be_visible()
            found[f"{view}{' large' if large else ''}"] = axe(page, axe_js, enhanced=large)
            if large:               # axe cannot judge text drawn in SVG: measured here
                assert svg_text_below(page, 7.0) == [], view
    problems = {where: serious(result["violations"]) for where, result in found.items()}
    assert {where: p for where, p in problems.items() if p} == {}
    contrast = {where: described([v for v in result["violations"] if v["id"] == "color-contrast-enhanced"])
                for where, result in found.items() if where.endswith("large")}
    assert {where: c for where, c in contrast.items() if c} == {}
    page.click("#large")


# == the live link ====================================================================
def test_a_dropped_connection_is_said_at_once_and_the_page_reconnects(serve, page) -> None:
    served = serve("--demo", "--speed", "20", users={"anna": "nurse"})
    log_in(page, served.url, "anna")
    expect(page.locator("body")).to_have_attribute("data-link", "live")
    expect(page.locator("#conn")).to_be_hidden()
    port = int(served.url.rsplit(":", 1)[1])
    served.stop()
    expect(page.locator("#conn")).to_be_visible(timeout=WAIT)
    expect(page.locator("#conn")).to_contain_text("Connection lost")
    again = serving.start_serve(served.store, "--demo", "--speed", "20", port=port)
    try:
        expect(page.locator("body")).to_have_attribute("data-link", "live", timeout=WAIT)
        expect(page.locator("#conn")).to_be_hidden()
        assert page.evaluate("window.carefleet.stats.reconnects") >= 1
        expect(page.locator("#map .robot")).to_have_count(3)
    finally:
        again.stop()
