"""The ward devices' HTTP routes (``/api/devices``), included by ``create_app``.

    app.include_router(devices_router(service))

- ``POST /api/devices/events``: a device's signed event (README, "Ward devices"; no
  bearer token: the ``X-CareFleet-Signature`` is the credential). ``202`` once the
  events it led to are committed by the host; a refusal is the usual error shape with
  ``code`` the reason (``unsigned``, ``unpaired``, ``spoofed``, ``stale``, ``replay``,
  ``wrong_room``, ``wrong_kind``, ``malformed``, ``flood``);
- ``POST /api/devices/claim``: a device fetches its key once paired (``202`` waiting);
- ``GET /api/devices``: paired devices with their health, pending ones, rejected and
  unpaired ones, refusal counts; ``GET /api/devices/events``: the latest events;
- ``POST /api/devices/{id}/pair`` (allow-listed: no body; else ``{"code": "1234-5678"}``),
  ``/reject``, ``/unpair``: admins;
- ``GET /api/devices/rules``: the rules in force.

Routes are declared in closures, so this module does not use ``from __future__ import
annotations`` (FastAPI must resolve ``Depends(reader)`` at definition time).
"""

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field

from carefleet.devices import protocol
from carefleet.devices.protocol import Refused
from carefleet.errors import IllegalTransition, InputError
from carefleet.service.accounts import AuthError, Principal

#: How long an event's answer waits for the host to commit what it led to.
SETTLE_TIMEOUT = 10.0


class PairRequest(BaseModel):
    """An admin pairs a device: the code it shows (not needed for allow-listed ones);
    ``room``/``resident`` say where it is when its advertisement does not."""

    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(None, min_length=6, max_length=20, pattern=r"^[0-9 -]+$")
    room: str | None = Field(None, min_length=1, max_length=80)
    resident: str | None = Field(None, min_length=1, max_length=64)


_SIGNED_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "required": list(protocol._FIELDS), "properties": {
        "v": {"type": "integer", "enum": [1]}, "device": {"type": "string"},
        "kind": {"type": "string"}, "room": {"type": ["string", "null"]},
        "at": {"type": "number"}, "nonce": {"type": "string"},
        "data": {"type": "object"}}}}}}}
_CLAIM_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "required": ["v", "device", "at", "nonce"], "properties": {
        "v": {"type": "integer", "enum": [1]}, "device": {"type": "string"},
        "at": {"type": "number"}, "nonce": {"type": "string"}}}}}}}


def devices_router(service: Any) -> APIRouter:
    """The ``/api/devices`` routes for one ``WardService`` and its ``DeviceManager``."""
    from carefleet.service.api import ERROR_RESPONSES, ApiError   # api imports this module

    manager = service.devices
    router = APIRouter(prefix="/api/devices", tags=["devices"], responses=ERROR_RESPONSES)
    bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)

    def principal(token: str | None) -> Principal:
        if not token:
            raise ApiError(401, "log in first (POST /api/auth/token)",
                           headers={"WWW-Authenticate": "Bearer"})
        try:
            return service.accounts.verify(token, time.time())
        except AuthError as exc:
            raise ApiError(401, str(exc), code=f"token_{exc.reason}",
                           headers={"WWW-Authenticate": "Bearer"}) from None

    def reader(token: Annotated[str | None, Depends(bearer)]) -> Principal:
        who = principal(token)
        if not who.can("read"):
            raise ApiError(403, f"a {who.role} may not read")
        return who

    def admin(token: Annotated[str | None, Depends(bearer)]) -> Principal:
        who = principal(token)
        if not who.can("manage_devices"):
            raise ApiError(403, f"a {who.role} may not pair or unpair devices")
        return who

    def actor(who: Principal) -> str:
        return f"staff:{who.name}" if who.kind == "user" else who.name

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > protocol.MAX_BODY:
            raise ApiError(413, f"a device event is at most {protocol.MAX_BODY} bytes",
                           code="too_large")
        payload = b""
        async for chunk in request.stream():
            payload += chunk
            if len(payload) > protocol.MAX_BODY:
                raise ApiError(413, f"a device event is at most {protocol.MAX_BODY} bytes",
                               code="too_large")
        return payload

    too_large = {413: {"model": ERROR_RESPONSES[400]["model"],
                       "description": f"More than {protocol.MAX_BODY} bytes"}}

    @router.post("/events", status_code=202, openapi_extra=_SIGNED_BODY, responses=too_large,
                 summary="A device's signed event (header X-CareFleet-Signature: v1=<hex>)")
    async def event(request: Request, x_carefleet_signature: Annotated[
            str | None, Header(max_length=100)] = None) -> dict[str, Any]:
        payload = await body_of(request)
        received = manager.receive(payload, x_carefleet_signature)
        verdict = received.verdict
        if isinstance(verdict, Refused):
            raise ApiError(verdict.reason.status, verdict.detail, code=verdict.reason.value,
                           field=None)
        refused = []
        if received.futures:
            done, pending = await asyncio.wait(
                [asyncio.wrap_future(f) for f in received.futures], timeout=SETTLE_TIMEOUT)
            refused = [str(f.exception()) for f in done if f.exception() is not None]
            if pending:
                refused.append("the ward has not taken it yet")
        decision = received.decision
        message = verdict.message
        return {"accepted": True, "device": message.device.id, "kind": message.kind,
                "room": message.room, "fired": list(decision.fired) if decision else [],
                "suppressed": [f"{r}:{why}" for r, why in decision.suppressed]
                if decision else [], "outputs": len(received.futures),
                "not_taken": refused}

    @router.post("/claim", openapi_extra=_CLAIM_BODY, responses={**too_large, 202: {
        "description": "Not paired yet: ask again"}},
                 summary="A device fetches its key once paired (X-CareFleet-Proof for codes)")
    async def claim(request: Request, x_carefleet_proof: Annotated[
            str | None, Header(max_length=100)] = None) -> Any:
        payload = await body_of(request)
        try:
            answer = await asyncio.to_thread(manager.claim, payload, x_carefleet_proof)
        except InputError as exc:
            raise ApiError(400, exc.message, field=exc.field, code="malformed") from None
        if answer.status == "waiting":
            return JSONResponse({"device": answer.device_id, "status": "waiting",
                                 "reason": answer.reason}, status_code=202)
        if answer.status == "refused":
            status = 409 if answer.reason in ("already_delivered", "claim_window_over") else 403
            raise ApiError(status, f"no key for this claim: {answer.reason}", code=answer.reason)
        out: dict[str, Any] = {"device": answer.device_id, "status": "paired", "api": 1}
        if answer.wrapped is not None:
            out["wrapped_key"] = answer.wrapped
        else:
            out["key"] = protocol.encode_key(answer.key or b"")
        return out

    @router.get("", summary="Devices: paired (with health), pending, rejected, unpaired")
    def listing(who: Annotated[Principal, Depends(reader)]) -> dict[str, Any]:
        return manager.listing()

    @router.get("/events", summary="The latest device events, accepted and refused")
    def recent(who: Annotated[Principal, Depends(reader)],
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        return manager.recent(max(1, min(int(limit), 500)))

    @router.get("/rules", summary="The device rules in force")
    def rules(who: Annotated[Principal, Depends(reader)]) -> dict[str, Any]:
        return {"source": manager.rules.source, "rules": manager.rules.view()}

    def answer(step: Any) -> dict[str, Any]:
        flow = manager.pairings.flows.get(step.device_id)
        return {"step": step.type.value, "step_id": step.step_id, "reason": step.reason,
                "device": flow.view() if flow else {"id": step.device_id}}

    async def change(call: Any, device_id: str, **kwargs: Any) -> dict[str, Any]:
        try:
            step = await asyncio.to_thread(call, device_id, **kwargs)
        except IllegalTransition as exc:
            raise ApiError(409, str(exc), field="device_id") from None
        except InputError as exc:
            if exc.field == "device_id":
                raise ApiError(404, exc.message, field="device_id") from None
            raise ApiError(422, exc.message, field=exc.field) from None
        return answer(step)

    DeviceId = Annotated[str, Path(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

    @router.post("/{device_id}/pair", summary="Pair a device (allow-listed, or with its code)")
    async def pair(device_id: DeviceId, who: Annotated[Principal, Depends(admin)],
                   body: Annotated[PairRequest | None, Body()] = None) -> dict[str, Any]:
        body = body or PairRequest()
        return await change(manager.pair, device_id, by=actor(who), code=body.code,
                            room=body.room, resident=body.resident)

    @router.post("/{device_id}/reject", summary="Refuse a pending device")
    async def reject(device_id: DeviceId,
                     who: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        return await change(manager.reject, device_id, by=actor(who))

    @router.post("/{device_id}/unpair", summary="Revoke a device's key (or forget a rejection)")
    async def unpair(device_id: DeviceId,
                     who: Annotated[Principal, Depends(admin)]) -> dict[str, Any]:
        return await change(manager.unpair, device_id, by=actor(who))

    return router


__all__ = ["devices_router"]
