"""The live service over real HTTP and WebSocket: a real ``carefleet serve`` process on
127.0.0.1 with simulated robots on a fast clock, a real store, real accounts."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from websockets.sync.client import connect

from carefleet.service.accounts import Accounts

USERS = {"anna": "nurse", "vic": "viewer", "ada": "admin"}
ZONE = ZoneInfo("Asia/Shanghai")                 # the demo ward's


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"status", "code", "field", "message"}
    assert body["error"]["status"] == response.status_code
    return body["error"]


def live(served, name: str = "anna"):
    socket = connect(served.url.replace("http", "ws") + "/api/live", open_timeout=30)
    socket.send(json.dumps({"token": served.tokens[name]}))
    snapshot = json.loads(socket.recv(timeout=30))
    assert snapshot["type"] == "snapshot" and snapshot["user"] == name
    return socket, snapshot


def test_a_task_is_stored_carried_out_and_seen_live(serve) -> None:
    served = serve("--demo", "--speed", "20", users=USERS)
    anna = served.clients["anna"]
    socket, snapshot = live(served)
    assert {r["id"] for r in snapshot["robots"]} == {"tray_1", "tray_2", "owl_1"}
    created = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_116", "id": "walk-1"})
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["id"] == "walk-1" and task["requested_by"] == "staff:anna"
    positions: dict[str, set] = {}
    deadline = time.monotonic() + 120
    done = False
    while not done and time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=60))
        if message["type"] == "robot":
            positions.setdefault(message["robot"]["id"], set()).add(message["robot"]["position"])
        if message["type"] == "task" and message["task"]["id"] == "walk-1":
            done = message["task"]["state"] == "completed"
    socket.close()
    assert done
    robot = task["robot"]
    assert len(positions.get(robot, ())) >= 2               # it moved on the way
    detail = anna.get("/api/tasks/walk-1").json()
    assert [h["state"] for h in detail["history"]][-1] == "completed"
    assert {"task_submitted", "task_completed"} <= {e["what"] for e in detail["events"]}
    submitted = next(e for e in detail["events"] if e["what"] == "task_submitted")
    assert submitted["who"] == "staff:anna"


def test_a_repeated_id_returns_the_stored_task_and_bad_requests_name_the_field(serve) -> None:
    served = serve("--demo", "--speed", "5", users=USERS)
    anna = served.clients["anna"]
    first = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_101", "id": "same"})
    again = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_202", "id": "same"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["places"] == ["room_101"]
    bad = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_999"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "place"
    assert "room_999" in error_of(bad)["message"]
    unknown = anna.post("/api/tasks", json={"kind": "teleport"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "kind"
    extra = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_101", "colour": "red"})
    assert extra.status_code == 422 and error_of(extra)["field"] == "colour"
    rmf = anna.post("/api/tasks", json={"category": "go_to", "description": {"place": "lounge"},
                                        "requester": "ward app", "labels": ["demo"]})
    assert rmf.status_code == 201 and rmf.json()["places"] == ["lounge"]
    not_json = anna.post("/api/tasks", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    listed = anna.get("/api/tasks", params={"kind": "go_to", "room": "room_101"}).json()
    assert [t["id"] for t in listed] == ["same"]


def test_cancel_and_its_refusals(serve) -> None:
    served = serve("--demo", "--speed", "5", users=USERS)
    anna = served.clients["anna"]
    anna.post("/api/tasks", json={"kind": "patrol", "checkpoints": ["room_101", "room_116"],
                                  "rounds": 5, "id": "round"})
    cancelled = anna.post("/api/tasks/round/cancel", json={"reason": "resident asleep"})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert "resident asleep" in cancelled.json()["reason"]
    twice = anna.post("/api/tasks/round/cancel")
    assert twice.status_code == 409 and error_of(twice)["code"] == "conflict"
    missing = anna.post("/api/tasks/nope/cancel")
    assert missing.status_code == 404


def test_a_fall_alert_is_acknowledged_and_resolved_and_escalates_when_not(serve) -> None:
    served = serve("--demo", "--speed", "30", users=USERS)
    anna = served.clients["anna"]
    fall = anna.post("/api/tasks", json={"kind": "fall_response", "room": "room_203"}).json()
    [alert] = [a for a in anna.get("/api/alerts").json() if a["task_id"] == fall["id"]]
    assert (alert["priority"], alert["state"], alert["tier"]) == ("high", "raised", 0)
    assert "Room 203" in alert["text"] or "room_203" in alert["text"]
    # nobody answers: after a minute of ward time it goes to the charge nurse
    escalated = served.wait_for(lambda: [a for a in anna.get("/api/alerts").json()
                                         if a["id"] == alert["id"] and a["tier"] >= 1],
                                "the fall alert to escalate")
    assert escalated[0]["escalations"] >= 1
    acked = anna.post(f"/api/alerts/{alert['id']}/acknowledge")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "staff:anna"
    resolved = anna.post(f"/api/alerts/{alert['id']}/resolve")
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    task = served.wait_for(lambda: (t := anna.get(f"/api/tasks/{fall['id']}").json())["state"]
                           == "completed" and t, "the fall response to end")
    assert "took over" in task["reason"]
    again = anna.post(f"/api/alerts/{alert['id']}/resolve")
    assert again.status_code in (404, 409)
    kpis = anna.get("/api/kpis").json()
    assert kpis["alerts"]["by_stage"]["high"]["acknowledged"]["count"] == 1


def test_schedules_made_through_the_api_fire(serve) -> None:
    served = serve("--demo", "--speed", "60", users=USERS)
    anna = served.clients["anna"]
    now = anna.get("/api/kpis").json()["until"]
    at = datetime.fromtimestamp(now, ZONE) + timedelta(minutes=3)
    made = anna.post("/api/schedules", json={"type": "meal", "name": "snack",
                                             "at": at.strftime("%H:%M"), "rooms": ["room_101"]})
    assert made.status_code == 201, made.text
    assert "snack" in {s["name"] for s in anna.get("/api/schedules").json()}
    meal = served.wait_for(lambda: [t for t in anna.get("/api/tasks",
                                                        params={"kind": "meal_delivery"}).json()
                                    if t["requested_by"] == "schedule:snack"],
                           "the snack service to fire")
    assert meal[0]["places"] == ["room_101"]
    bad = anna.post("/api/schedules", json={"type": "meal", "name": "x", "at": "25:99"})
    assert bad.status_code == 422
    assert anna.delete("/api/schedules/snack").status_code == 200
    assert anna.delete("/api/schedules/snack").status_code == 404


def test_who_may_do_what(serve) -> None:
    served = serve("--demo", users=USERS)
    url = served.url
    nobody = httpx.post(f"{url}/api/tasks", json={"kind": "go_to", "place": "room_101"})
    assert nobody.status_code == 401 and error_of(nobody)["code"] == "unauthorized"
    vic = served.clients["vic"]
    assert vic.get("/api/robots").status_code == 200
    refused = vic.post("/api/tasks", json={"kind": "go_to", "place": "room_101"})
    assert refused.status_code == 403 and "viewer" in error_of(refused)["message"]
    anna = served.clients["anna"]
    task = anna.post("/api/tasks", json={"kind": "go_to", "place": "room_101"}).json()
    assert vic.post(f"/api/tasks/{task['id']}/cancel").status_code == 403
    with Accounts(served.store) as accounts:
        stale = accounts.issue_token("anna", time.time() - 10 * 3600, ttl=3600)
    expired = httpx.get(f"{url}/api/robots", headers={"Authorization": f"Bearer {stale}"})
    assert expired.status_code == 401 and error_of(expired)["code"] == "token_expired"
    forged = httpx.get(f"{url}/api/robots", headers={"Authorization": "Bearer abc.def"})
    assert forged.status_code == 401
    codes = [httpx.post(f"{url}/api/auth/token", data={"username": "vic", "password": "wrong"})
             .status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    locked = httpx.post(f"{url}/api/auth/token", data={"username": "vic", "password": "wrong"})
    assert int(locked.headers["Retry-After"]) > 0
    paused = anna.post("/api/robots/tray_1/pause")
    assert paused.status_code == 200 and paused.json()["held"] is True
    assert anna.post("/api/robots/tray_1/resume").json()["held"] is False
    assert vic.post("/api/robots/tray_1/pause").status_code == 403
    audit = list(csv.DictReader(io.StringIO(anna.get("/api/audit.csv").text)))
    assert {"who": "staff:anna", "what": "task_submitted"} in [
        {"who": row["who"], "what": row["what"]} for row in audit]
    assert any(row["who"] == "staff:anna" and row["what"] == "robot_paused" for row in audit)


def test_the_ward_kpis_and_schema_are_served(serve) -> None:
    served = serve("--demo", users=USERS)
    anna = served.clients["anna"]
    ward = anna.get("/api/ward").json()
    assert {f["id"] for f in ward["floors"]} == {"F1", "F2"}
    assert any(p["id"] == "room_203" and p["label"] for p in ward["places"])
    assert ward["lifts"] and ward["lanes"]
    kpis = anna.get("/api/kpis").json()
    assert "meals_delivered" in kpis["kpis"]
    schema = httpx.get(f"{served.url}/openapi.json").json()
    for path in ("/api/auth/token", "/api/tasks", "/api/tasks/{task_id}",
                 "/api/tasks/{task_id}/cancel", "/api/robots", "/api/robots/{robot_id}",
                 "/api/robots/{robot_id}/pause", "/api/robots/{robot_id}/resume", "/api/alerts",
                 "/api/alerts/{alert_id}/acknowledge", "/api/alerts/{alert_id}/resolve",
                 "/api/schedules", "/api/ward", "/api/kpis", "/api/audit.csv"):
        assert path in schema["paths"], path
    assert httpx.get(f"{served.url}/docs").status_code == 200


def test_live_refuses_a_socket_without_a_valid_token(serve) -> None:
    served = serve("--demo", users=USERS)
    socket = connect(served.url.replace("http", "ws") + "/api/live", open_timeout=30)
    socket.send(json.dumps({"token": "forged"}))
    assert json.loads(socket.recv(timeout=30))["type"] == "error"
    socket.close()


def test_sigterm_stops_the_service_cleanly(serve) -> None:
    served = serve("--demo")
    assert served.stop() == 0
    assert "CareFleet: stopped" in served.process.stdout.read()
