"""The HTTP and WebSocket API of ``carefleet serve`` (FastAPI; OpenAPI at /openapi.json).

Every route is a thin shell over ``WardService``: a write becomes an event posted to
the host and is answered only once the host has committed it (``201`` means stored);
a read comes from the host's read model or the store's read-only connection. Routes
that block (the store) are plain ``def`` so FastAPI runs them on its worker threads;
the event loop only awaits futures and WebSocket traffic.

One error shape everywhere: ``{"error": {"status", "code", "field", "message"}}``;
a malformed request is 400/422, a missing token 401, a wrong role 403, too many login
failures 429, a store that cannot commit 503, and never a 500 for a caller's mistake.
"""


import asyncio
import csv
import io
import json
import time
from datetime import datetime, time as clock_time
from pathlib import Path as PathLib
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from carefleet import __version__, messages
from carefleet.errors import CareFleetError, CoreFault, InputError, RobotError, StoreError
from carefleet.messages import render
from carefleet.orchestrator.events import (DeviceEvent, RobotHeld, ScheduleChanged,
                                           TaskCancelled, TaskSubmitted)
from carefleet.orchestrator.host import Change, Handled
from carefleet.orchestrator.schedules import (MealService, PatrolSchedule, parse_clock,
                                              schedule_record)
from carefleet.service.accounts import PERMISSIONS, AuthError, LoginThrottle, Principal
from carefleet.service.devices_api import devices_router
from carefleet.service.ward import WardService
from carefleet.simulation.kpi import live_kpis

FINAL = ("completed", "failed", "cancelled")
#: The dashboard and the call page: plain files shipped in the package (no build step).
STATIC = PathLib(__file__).resolve().parent / "static"
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported",
         422: "invalid", 429: "too_many_requests", 503: "unavailable"}
LIVE_QUEUE = 2000          # changes a slow WebSocket client may fall behind before it is cut


class ApiError(Exception):
    """A refusal with its status, code and the field at fault."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.code = code or CODES.get(status, "error")
        self.headers = headers


def _error(status: int, message: str, field: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code or CODES.get(status, "error"),
                                   "field": field, "message": message}},
                        status_code=status, headers=headers)


class ErrorDetail(BaseModel):
    status: int
    code: str
    field: str | None
    message: str


class ErrorBody(BaseModel):
    """Every refusal, whatever the route: status, a code, the field at fault, a message."""

    error: ErrorDetail


#: Documented on every route, so clients (and the schema fuzzer) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description} for status, description in (
        (400, "Malformed request"), (401, "Not logged in, or the token expired"),
        (403, "Your role may not do this"), (404, "No such task, robot, alert or schedule"),
        (409, "Conflicts with the current state (e.g. already finished)"),
        (422, "Invalid field (named in the error)"), (429, "Too many failed logins"),
        (503, "The store cannot commit, or the core is being rebuilt"))}


# == request bodies ==========================================================
class Kind(str, Enum):
    meal_delivery = "meal_delivery"
    patrol = "patrol"
    fall_response = "fall_response"
    go_to = "go_to"
    charge = "charge"


class TaskRequest(BaseModel):
    """The README's task request, plus an optional client ``id`` for idempotency.

    Open-RMF users may send ``category`` (the kind), ``description`` (the kind's fields),
    ``requester`` and ``labels`` as in ``rmf_api_msgs``' task request (README, "API").
    """

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: Kind | None = None
    category: Kind | None = None
    description: dict[str, Any] | None = None
    priority: Literal["urgent", "high", "normal", "low"] | None = None
    robot: str | None = Field(None, max_length=80)
    due: float | None = None
    rooms: list[str] | None = Field(None, max_length=200)
    meal: str | None = Field(None, max_length=80)
    kitchen: str | None = None
    pickup_timeout: float | None = Field(None, gt=0, le=86400)
    checkpoints: list[str] | None = Field(None, max_length=200)
    rounds: int | None = Field(None, ge=1, le=100)
    until: float | None = None
    room: str | None = None
    source: str | None = Field(None, max_length=80)
    place: str | None = None
    charger: str | None = None
    requester: str | None = Field(None, max_length=80)
    labels: list[str] | None = Field(None, max_length=20)

    def as_request(self) -> dict[str, Any]:
        """The core's request mapping (an RMF-style body folded into the flat form)."""
        fields = self.model_dump(exclude_none=True, exclude={"id", "category", "description",
                                                               "requester", "labels"})
        if self.category is not None:
            if self.kind is not None and self.kind != self.category:
                raise ApiError(422, "kind and category differ", field="category")
            fields["kind"] = self.category.value
            for key, value in (self.description or {}).items():
                fields.setdefault(key, value)
        elif self.description:
            raise ApiError(422, "description is given with category", field="description")
        if "kind" not in fields:
            raise ApiError(422, "missing field 'kind' (or 'category')", field="kind")
        fields["kind"] = Kind(fields["kind"]).value
        return fields


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: Literal["help", "water", "toilet", "meal"] = "help"


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("cancelled by staff", min_length=1, max_length=200)


class ScheduleRequest(BaseModel):
    """A recurring meal service (``at``) or patrol (``start``/``end``) in ward-local time."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["meal", "patrol"]
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_ -]+$")
    at: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$")
    rooms: list[str] | None = Field(None, max_length=200)
    pickup_timeout: float = Field(180.0, gt=0, le=3600)
    start: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$")
    end: str | None = Field(None, pattern=r"^\d{1,2}:\d{2}$")
    checkpoints: list[str] | None = Field(None, max_length=200)
    rounds: int | None = Field(None, ge=1, le=100)

    def as_schedule(self) -> MealService | PatrolSchedule:
        try:
            if self.type == "meal":
                if self.at is None:
                    raise ApiError(422, "a meal service needs 'at'", field="at")
                return MealService(name=self.name, at=parse_clock(self.at),
                                   rooms=tuple(self.rooms) if self.rooms else None,
                                   pickup_timeout=self.pickup_timeout)
            if self.start is None or self.end is None or not self.checkpoints:
                raise ApiError(422, "a patrol needs 'start', 'end' and 'checkpoints'",
                               field="start" if self.start is None else
                               "end" if self.end is None else "checkpoints")
            return PatrolSchedule(name=self.name, start=parse_clock(self.start),
                                  end=parse_clock(self.end), checkpoints=tuple(self.checkpoints),
                                  rounds=self.rounds)
        except ValueError as exc:
            raise ApiError(422, str(exc), field="at" if self.type == "meal" else "start") from None


# == the app =================================================================
def create_app(service: WardService, *, throttle: LoginThrottle | None = None) -> FastAPI:
    """The API of one live ward."""
    app = FastAPI(title="CareFleet", version=__version__, responses=ERROR_RESPONSES,
                  description="The live ward: tasks, robots, alerts, schedules, the ward map.")
    bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
    throttle = throttle or LoginThrottle()
    site = service.site
    zone = ZoneInfo(site.ward.timezone)

    # -- errors ----------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.field, exc.code, exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return _error(422, str(first.get("msg", "invalid request")),
                      ".".join(where) or None)

    @app.exception_handler(CareFleetError)
    async def _refused(request: Request, exc: CareFleetError) -> JSONResponse:
        if isinstance(exc, (StoreError, CoreFault)):
            return _error(503, str(exc), code="store_unavailable" if isinstance(exc, StoreError)
                          else "core_fault")
        if isinstance(exc, AuthError):
            return _error(401, str(exc), headers={"WWW-Authenticate": "Bearer"})
        return _error(422, getattr(exc, "message", str(exc)), getattr(exc, "field", None))

    # -- who is asking ---------------------------------------------------------
    def principal_for(token: str | None) -> Principal:
        if not token:
            raise ApiError(401, "log in first (POST /api/auth/token)",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            return service.accounts.verify(token, time.time())
        except AuthError as exc:
            raise ApiError(401, str(exc), code=f"token_{exc.reason}",
                           headers={"WWW-Authenticate": "Bearer"}) from None

    def may(action: str) -> Any:
        def check(token: Annotated[str | None, Depends(bearer)]) -> Principal:
            who = principal_for(token)
            if not who.can(action):
                raise ApiError(403, f"a {who.role} may not {action.replace('_', ' ')}")
            return who
        return Depends(check)

    Reader = Annotated[Principal, may("read")]

    def actor(who: Principal) -> str:
        """How the audit log names a caller: ``staff:anna``, ``robot:tray_1`` ..."""
        return f"staff:{who.name}" if who.kind == "user" else who.name

    async def settled(event: Any) -> Handled:
        return await asyncio.wrap_future(service.post(event))

    # -- auth --------------------------------------------------------------------
    @app.post("/api/auth/token", tags=["auth"], summary="Log in (OAuth2 password form)")
    def login(request: Request, username: Annotated[str, Form(max_length=80)],
              password: Annotated[str, Form(max_length=200)]) -> dict[str, Any]:
        now = time.time()
        keys = [f"user:{username}", f"ip:{request.client.host if request.client else '?'}"]
        wait = max(throttle.check(key, now) for key in keys)
        if wait:
            raise ApiError(429, f"too many failed logins; try again in {wait} s",
                           headers={"Retry-After": str(wait)})
        try:
            who = service.accounts.authenticate(username, password, now)
        except AuthError:
            for key in keys:
                throttle.failure(key, now)
            raise ApiError(401, "wrong user name or password",
                           headers={"WWW-Authenticate": "Bearer"}) from None
        for key in keys:
            throttle.success(key)
        token = service.accounts.issue_token(who, now, ttl=site.token_ttl)
        return {"access_token": token, "token_type": "bearer", "expires_in": int(site.token_ttl),
                "user": who.name, "role": who.role}

    @app.get("/api/me", tags=["auth"])
    def me(who: Reader) -> dict[str, Any]:
        return {"name": who.name, "role": who.role, "kind": who.kind,
                "may": sorted(PERMISSIONS.get(who.role, ()))}   # the pages show what it may do

    # -- tasks -------------------------------------------------------------------
    @app.post("/api/tasks", status_code=201, tags=["tasks"],
              summary="Submit a task; 201 once it is stored, 200 with the existing task for "
                      "a repeated id")
    async def submit(body: TaskRequest, who: Annotated[Principal, may("submit_task")]) -> Any:
        request = body.as_request()
        handled = await settled(TaskSubmitted(request=request, requested_by=actor(who),
                                              task_id=body.id))
        new_id = handled.task_id("task_submitted")
        if new_id is None and body.id is not None:
            record = await asyncio.to_thread(service.reading().task, body.id)
            return JSONResponse(task_view(record, zone), status_code=200)
        record = next(r for r in handled.records if r["id"] == new_id)
        return task_view(record, zone)

    @app.get("/api/tasks", tags=["tasks"])
    def list_tasks(who: Reader, state: str | None = None, kind: Kind | None = None,
                   robot: str | None = None, room: str | None = None,
                   since: float | None = None, until: float | None = None,
                   limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
        records = service.reading().all_tasks()
        out = []
        for record in reversed(records):                    # newest first
            if state and record["state"] != state:
                continue
            if kind and record["kind"] != kind.value:
                continue
            if robot and robot not in (record.get("assigned_robot"), record.get("robot")):
                continue
            if room and room not in _places_of(record):
                continue
            if since is not None and record["created_at"] < since:
                continue
            if until is not None and record["created_at"] > until:
                continue
            out.append(task_view(record, zone))
            if len(out) >= limit:
                break
        return out

    @app.get("/api/tasks/{task_id}", tags=["tasks"])
    def get_task(task_id: Annotated[str, Path(max_length=80)], who: Reader) -> dict[str, Any]:
        store = service.reading()
        record = store.task(task_id)
        if record is None:
            raise ApiError(404, f"no task '{task_id}'", field="task_id")
        view = task_view(record, zone)
        view["history"] = [{"at": at, "local": _local(at, zone), "state": st, "reason": why}
                           for at, st, why in store.history(task_id)]
        view["events"] = [{"at": a.at, "local": _local(a.at, zone), "what": a.action,
                           "who": a.actor, "robot": a.robot_id, "detail": a.detail}
                          for a in store.audit(task_id=task_id)]
        return view

    @app.post("/api/tasks/{task_id}/cancel", tags=["tasks"])
    async def cancel(task_id: Annotated[str, Path(max_length=80)],
                     who: Annotated[Principal, may("cancel_task")],
                     body: CancelRequest | None = None) -> dict[str, Any]:
        record = await asyncio.to_thread(service.reading().task, task_id)
        if record is None:
            raise ApiError(404, f"no task '{task_id}'", field="task_id")
        if record["state"] in FINAL:
            raise ApiError(409, f"task {task_id} is already {record['state']}", field="task_id")
        handled = await settled(TaskCancelled(task_id=task_id, requested_by=actor(who),
                                              reason=(body or CancelRequest()).reason))
        saved = [r for r in handled.records if r["id"] == task_id]
        return task_view(saved[-1] if saved else record, zone)

    # -- robots ------------------------------------------------------------------
    @app.get("/api/robots", tags=["robots"])
    def robots(who: Reader) -> list[dict[str, Any]]:
        snap = service.read.snapshot()
        return [robot_view(view, service) for view in snap["robots"].values()]

    @app.get("/api/robots/{robot_id}", tags=["robots"])
    def robot(robot_id: Annotated[str, Path(max_length=80)], who: Reader) -> dict[str, Any]:
        view = service.read.snapshot()["robots"].get(robot_id)
        if view is None:
            raise ApiError(404, f"no robot '{robot_id}'", field="robot_id")
        return robot_view(view, service)

    async def hold(robot_id: str, held: bool, who: Principal) -> dict[str, Any]:
        if robot_id not in site.drivers:
            raise ApiError(404, f"no robot '{robot_id}'", field="robot_id")
        await settled(RobotHeld(robot_id=robot_id, held=held, by=actor(who)))
        view = service.read.snapshot()["robots"].get(robot_id)
        return robot_view(view, service) if view else {"id": robot_id, "held": held}

    @app.post("/api/robots/{robot_id}/pause", tags=["robots"])
    async def pause(robot_id: Annotated[str, Path(max_length=80)],
                    who: Annotated[Principal, may("pause_robot")]) -> dict[str, Any]:
        return await hold(robot_id, True, who)

    @app.post("/api/robots/{robot_id}/resume", tags=["robots"])
    async def resume(robot_id: Annotated[str, Path(max_length=80)],
                     who: Annotated[Principal, may("pause_robot")]) -> dict[str, Any]:
        return await hold(robot_id, False, who)

    # -- alerts ------------------------------------------------------------------
    @app.get("/api/alerts", tags=["alerts"])
    def alerts(who: Reader, include_resolved: bool = False,
               language: str | None = None) -> list[dict[str, Any]]:
        snap = service.read.snapshot()
        shown = [a for a in snap["alerts"].values()
                 if include_resolved or a["state"] != "resolved"]
        return [alert_view(a, language or site.language, zone, site.ward) for a in
                sorted(shown, key=lambda a: (_PRIORITY_ORDER.get(a["priority"], 9),
                                             a["raised_at"]))]

    async def answer(alert_id: str, action: str, who: Principal) -> dict[str, Any]:
        from carefleet.orchestrator.events import AlertAcknowledged, AlertResolved
        if alert_id not in service.read.snapshot()["alerts"]:
            raise ApiError(404, f"no alert '{alert_id}'", field="alert_id")
        event_type = AlertAcknowledged if action == "acknowledge" else AlertResolved
        try:
            await settled(event_type(alert_id=alert_id, by=actor(who)))
        except InputError as exc:
            raise ApiError(409, exc.message, field="alert_id") from None
        return alert_view(service.read.snapshot()["alerts"][alert_id], site.language, zone,
                          site.ward)

    @app.post("/api/alerts/{alert_id}/acknowledge", tags=["alerts"])
    async def acknowledge(alert_id: Annotated[str, Path(max_length=80)],
                          who: Annotated[Principal, may("ack_alert")]) -> dict[str, Any]:
        return await answer(alert_id, "acknowledge", who)

    @app.post("/api/alerts/{alert_id}/resolve", tags=["alerts"])
    async def resolve(alert_id: Annotated[str, Path(max_length=80)],
                      who: Annotated[Principal, may("resolve_alert")]) -> dict[str, Any]:
        return await answer(alert_id, "resolve", who)

    # -- schedules ---------------------------------------------------------------
    @app.get("/api/schedules", tags=["schedules"])
    def schedules(who: Reader) -> list[dict[str, Any]]:
        return list(service.read.snapshot()["schedules"].values())

    @app.post("/api/schedules", status_code=201, tags=["schedules"])
    async def save_schedule(body: ScheduleRequest,
                            who: Annotated[Principal, may("edit_schedules")]) -> dict[str, Any]:
        schedule = body.as_schedule()
        await settled(ScheduleChanged(name=schedule.name, schedule=schedule, by=actor(who)))
        return schedule_record(schedule)

    @app.delete("/api/schedules/{name}", tags=["schedules"])
    async def delete_schedule(name: Annotated[str, Path(max_length=60)],
                              who: Annotated[Principal, may("edit_schedules")]) -> dict[str, Any]:
        if name not in service.read.snapshot()["schedules"]:
            raise ApiError(404, f"no schedule '{name}'", field="name")
        await settled(ScheduleChanged(name=name, by=actor(who)))
        return {"deleted": name}

    # -- the bedside call page ---------------------------------------------------
    def caller(room: str, token: str | None) -> Principal:
        """A call page's device token is bound to its room (subject ``device:<room>``);
        staff may press a room's button too (testing a page at the bedside)."""
        who = principal_for(token)
        if who.kind == "machine":
            if who.role != "device" or who.name != f"device:{room}":
                raise ApiError(403, f"this token belongs to {who.name}, not to {room}")
        elif not who.can("ack_alert"):
            raise ApiError(403, f"a {who.role} may not press a call button")
        if room not in site.ward.places:
            raise ApiError(404, f"no room '{room}'", field="room")
        return who

    @app.post("/api/call/{room}", tags=["call"], summary="A resident asks for help (call page)")
    async def call(room: Annotated[str, Path(max_length=80)], body: CallRequest,
                   token: Annotated[str | None, Depends(bearer)]) -> dict[str, Any]:
        who = caller(room, token)
        await settled(DeviceEvent(device_id=who.name, kind="call_button", room=room,
                                  data={"request": body.request}))
        return call_state(room)

    @app.get("/api/call/{room}", tags=["call"], summary="Has someone answered this room's call")
    def call_status(room: Annotated[str, Path(max_length=80)],
                    token: Annotated[str | None, Depends(bearer)]) -> dict[str, Any]:
        caller(room, token)
        return call_state(room)

    def call_state(room: str) -> dict[str, Any]:
        calls = [a for a in service.read.snapshot()["alerts"].values()
                 if a.get("place") == room and a["key"].startswith("call_")]
        if not calls:
            return {"room": room, "state": "none"}
        latest = max(calls, key=lambda a: (a["raised_at"], a["id"]))
        request = "help" if latest["key"] == "call_button" else latest["key"][5:]
        return {"room": room, "state": latest["state"], "request": request,
                "raised_at": latest["raised_at"], "alert_id": latest["id"]}

    # -- the ward, KPIs, audit ---------------------------------------------------
    @app.get("/api/ward", tags=["ward"])
    def ward(who: Reader) -> dict[str, Any]:
        return ward_view(service)

    @app.get("/api/kpis", tags=["ward"], summary="Today's figures so far (ward-local day)")
    def kpis(who: Reader) -> dict[str, Any]:
        now = service.clock.now()
        midnight = datetime.combine(datetime.fromtimestamp(now, zone).date(), clock_time(0),
                                    zone).timestamp()
        records = [r for r in service.reading().all_tasks() if r["created_at"] >= midnight]
        alerts = [a for a in service.read.snapshot()["alerts"].values()
                  if a["raised_at"] >= midnight]
        return {"since": midnight, "until": now, **live_kpis(records, alerts)}

    @app.get("/api/audit.csv", tags=["ward"], response_class=Response,
             summary="Who did what, as CSV (from/to: epoch seconds)")
    def audit_csv(who: Reader, from_: Annotated[float | None, Query(alias="from")] = None,
                  to: float | None = None) -> Response:
        rows = service.reading().audit(since=from_)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", "local_time", "who", "what", "task", "robot", "detail"])
        for a in rows:
            if to is not None and a.at > to:
                continue
            writer.writerow([f"{a.at:.3f}", _local(a.at, zone), a.actor, a.action,
                             a.task_id or "", a.robot_id or "",
                             json.dumps(a.detail, ensure_ascii=False, sort_keys=True)])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=audit.csv"})

    @app.get("/api/health", tags=["ward"], summary="Is the ward running (no login needed)")
    def health() -> dict[str, Any]:
        core = service.host.core
        return {"ward": site.ward.name, "running": core.broken is None,
                "now": service.clock.now(), "speed": service.clock.speed,
                "incarnation": core.incarnation, "cameras": dict(service.camera_state)}

    # -- live --------------------------------------------------------------------
    @app.websocket("/api/live")
    async def live(socket: WebSocket) -> None:
        """Robot states, task changes and alerts as they happen. The first message must
        be ``{"token": ...}`` (or pass ``?token=``); then a snapshot, then changes."""
        await socket.accept()
        token = socket.query_params.get("token")
        try:
            if not token:
                first = await asyncio.wait_for(socket.receive_json(), timeout=10)
                token = first.get("token") if isinstance(first, dict) else None
            who = principal_for(token)
            if not who.can("read"):
                raise ApiError(403, f"a {who.role} may not read")
        except (ApiError, asyncio.TimeoutError, ValueError, WebSocketDisconnect) as exc:
            message = exc.message if isinstance(exc, ApiError) else "send {\"token\": ...} first"
            try:
                await socket.send_json({"type": "error", "message": message})
                await socket.close(code=4401)
            except Exception:
                pass
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=LIVE_QUEUE)

        def push(change: Change) -> None:          # on the host's thread
            message = live_message(change, service, zone)
            if message is not None:
                loop.call_soon_threadsafe(_offer, queue, message)
        unsubscribe = service.host.subscribe(push)
        try:
            snap = service.read.snapshot()
            await socket.send_json({
                "type": "snapshot", "user": who.name, "role": who.role,
                "now": service.clock.now(), "speed": service.clock.speed,
                "robots": [robot_view(v, service) for v in snap["robots"].values()],
                "tasks": [task_view(r, zone) for r in snap["tasks"].values()
                          if r["state"] not in FINAL],
                "alerts": [alert_view(a, site.language, zone, site.ward)
                           for a in snap["alerts"].values() if a["state"] != "resolved"]})
            while True:
                message = await queue.get()
                if message is None:
                    await socket.close(code=1013)       # fell too far behind: reconnect
                    return
                await socket.send_json(message)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            unsubscribe()

    app.include_router(devices_router(service))

    # -- the dashboard and the call page (static files in the package) ----------------
    @app.get("/i18n.json", include_in_schema=False)
    def page_texts() -> dict[str, dict[str, str]]:
        return page_strings()

    @app.get("/call/{room}", include_in_schema=False)
    def call_page(room: Annotated[str, Path(max_length=80)]) -> FileResponse:
        return FileResponse(STATIC / "call.html")

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="dashboard")
    return app


@cache
def page_strings() -> dict[str, dict[str, str]]:
    """The pages' texts per language: their own (``static/i18n.json``) and, as ``msg.<key>``,
    every staff message from ``carefleet/strings``, so alerts read on the page exactly as the
    service words them and the two tables cannot drift apart."""
    pages = json.loads((STATIC / "i18n.json").read_text(encoding="utf-8"))
    return {lang: texts | {f"msg.{key}": messages.catalogue(lang).get(key) or english
                           for key, english in messages.catalogue(messages.DEFAULT_LANGUAGE).items()}
            for lang, texts in pages.items()}


def _offer(queue: asyncio.Queue, message: dict[str, Any]) -> None:
    try:
        queue.put_nowait(message)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)


# == views ===================================================================
_PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _local(at: float | None, zone: ZoneInfo) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")


def _places_of(record: dict[str, Any]) -> set[str]:
    progress = record.get("progress", {})
    places = set(progress.get("rooms", [])) | set(progress.get("checkpoints", []))
    for key in ("room", "place", "charger"):
        if progress.get(key):
            places.add(progress[key])
    return places


def task_view(record: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A stored task record as the API shows it."""
    return {"id": record["id"], "kind": record["kind"], "state": record["state"],
            "priority": record["priority"], "robot": record.get("assigned_robot"),
            "pinned_robot": record.get("robot"), "requested_by": record["requested_by"],
            "created_at": record["created_at"], "created_local": _local(record["created_at"], zone),
            "due": record.get("due"), "reason": record.get("reason", ""),
            "finished_at": record.get("finished_at"), "attempts": record.get("attempts", 0),
            "places": sorted(_places_of(record)), "progress": record.get("progress", {})}


def robot_view(view: Any, service: WardService) -> dict[str, Any]:
    ward = service.site.ward
    w = ward.waypoints.get(view.position)
    return {"id": view.id, "state": view.state, "battery": round(view.battery, 4),
            "position": view.position,
            "pose": {"floor": w.floor, "x": w.x, "y": w.y} if w else None,
            "task": view.task, "queue": list(view.queue), "error": view.error,
            "held": view.held, "speed": _speed_of(service, view.id)}


def _speed_of(service: WardService, robot_id: str) -> float | None:
    spec = next((r for r in service.site.robots if r.id == robot_id), None)
    return spec.profile.speed if spec else None


def alert_view(alert: dict[str, Any], language: str, zone: ZoneInfo, ward: Any) -> dict[str, Any]:
    params = dict(alert.get("params", {}))
    try:
        text = render(alert["key"], params, language)
    except (KeyError, ValueError, CareFleetError):
        text = alert["key"]
    place = alert.get("place")
    return {**alert, "text": text, "raised_local": _local(alert.get("raised_at"), zone),
            "place_label": ward.places[place].label if place in ward.places else place}


def ward_view(service: WardService) -> dict[str, Any]:
    """The ward's geometry, so a browser can draw it."""
    ward = service.site.ward
    closed = service.host.core.closed
    return {
        "name": ward.name, "timezone": ward.timezone, "site": service.site.name,
        "now": service.clock.now(), "speed": service.clock.speed,
        "tiers": list(service.site.alerts.tiers),
        "floors": [{"id": f.id, "name": f.name, "elevation": f.elevation}
                   for f in ward.floors.values()],
        "waypoints": [{"id": w.id, "floor": w.floor, "x": w.x, "y": w.y}
                      for w in ward.waypoints.values()],
        "lanes": [{"id": lane.id, "from": lane.start, "to": lane.end, "one_way": lane.one_way,
                   "door": lane.door, "corridor": lane.corridor,
                   "closed": lane.id in closed or (lane.corridor in closed if lane.corridor
                                                   else False)} for lane in ward.lanes],
        "lifts": [{"id": lift.id, "stops": lift.stops, "transfer_time": lift.transfer_time,
                   "closed": lift.id in closed} for lift in ward.lifts.values()],
        "places": [{"id": p.id, "kind": p.kind.value, "floor": p.floor, "x": p.x, "y": p.y,
                    "waypoint": p.waypoint, "label": p.label, "room": p.room}
                   for p in ward.places.values()],
        "closed": sorted(closed)}


def live_message(change: Change, service: WardService, zone: ZoneInfo) -> dict[str, Any] | None:
    """One change of the host's feed as a WebSocket message (None: not for clients)."""
    site = service.site
    if change.kind == "robot":
        return {"type": "robot", "at": change.at, "robot": robot_view(change.data, service)}
    if change.kind == "task":
        return {"type": "task", "at": change.at, "task": task_view(change.data, zone)}
    if change.kind == "alert":
        return {"type": "alert", "at": change.at,
                "alert": alert_view(change.data, site.language, zone, site.ward)}
    if change.kind == "state" and change.data[0] == "closed":
        return {"type": "closures", "at": change.at, "closed": change.data[1]}
    return None


__all__ = ["create_app", "ApiError", "RobotError"]
