"""Finding devices on the network with python-zeroconf (async API). Discovery only proposes.

Devices advertise ``_carefleet._tcp.local.`` with TXT fields ``id``, ``kind``, ``room``
(or ``resident`` for a wearable), ``model``, ``firmware``, ``api`` (the protocol
version) and, for a camera, ``stream``; cameras may also be found as ``_rtsp._tcp``
(TXT ``path``, and ``id``/``room`` if they have them). Each find becomes an
``Advertisement`` handed to ``on_found``, and a service that goes away ``on_lost``: the
runtime passes them to ``Pairings``, which never trusts them by themselves.

Zeroconf is bound to the interfaces given (``127.0.0.1`` by default and in every
test), IPv4 only. Like python-zeroconf itself: one async implementation; methods that
must run on the loop start with ``async_``; ``discover()`` is the guarded sync face
(it refuses to run inside a running loop, and waits a bounded time).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from carefleet.errors import CareFleetError, InputError
from carefleet.devices.model import Advertisement, Device, DeviceKind

SERVICE_TYPE = "_carefleet._tcp.local."
RTSP_TYPE = "_rtsp._tcp.local."
TYPES = (SERVICE_TYPE, RTSP_TYPE)
LOOPBACK = ("127.0.0.1",)
RESOLVE_TIMEOUT = 3.0
log = logging.getLogger(__name__)


def _text(properties: dict[Any, Any], name: str) -> str | None:
    value = properties.get(name.encode(), properties.get(name))
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("advertisement", "TXT value is not UTF-8", field=name) from None
    value = str(value).strip()
    return value or None


def instance_label(name: str, service_type: str) -> str:
    """``bed-101._carefleet._tcp.local.`` -> ``bed-101``."""
    return name[:-len(service_type) - 1] if name.endswith("." + service_type) else name


def advertisement(properties: dict[Any, Any], *, name: str, service_type: str,
                  addresses: Iterable[str] = (), port: int = 0) -> Advertisement:
    """An advertisement from TXT properties (``InputError`` when it is no device)."""
    label = instance_label(name, service_type)
    get = lambda key: _text(properties, key)   # noqa: E731
    api_text = get("api") or "1"
    try:
        api = int(api_text)
    except ValueError:
        raise InputError(f"advertisement {label}", f"api {api_text!r} is not a number",
                         field="api") from None
    addresses = tuple(addresses)
    if service_type == RTSP_TYPE:
        device_id = get("id") or re.sub(r"[^A-Za-z0-9._-]", "-", label)[:64].strip("-._")
        path = (get("path") or "").lstrip("/")
        host = addresses[0] if addresses else None
        stream = f"rtsp://{host}:{port}/{path}" if host else None
        device = Device(id=device_id, kind=DeviceKind.ROOM_CAMERA, room=get("room"),
                        model=(get("model") or "")[:80], firmware=(get("firmware") or "")[:40],
                        stream_url=stream, api=api)
    else:
        kind = get("kind")
        if kind is None:
            raise InputError(f"advertisement {label}", "no kind", field="kind")
        device = Device(id=get("id") or label, kind=kind, room=get("room"),
                        resident=get("resident"), model=(get("model") or "")[:80],
                        firmware=(get("firmware") or "")[:40],
                        stream_url=get("stream"), api=api)
    return Advertisement(device=device, name=name, service_type=service_type,
                         addresses=addresses, port=int(port))


Found = Callable[[Advertisement], None]
Lost = Callable[[str, str], None]          # (device id, service name)
Invalid = Callable[[str, str], None]       # (service name, why)


class Discovery:
    """Browses for devices on ``interfaces`` and reports finds and losses.

    Callbacks run on the event loop: keep them short (hand over to the runtime).
    Share a running ``AsyncZeroconf`` with ``zeroconf=``, or let this make its own.
    """

    def __init__(self, on_found: Found, on_lost: Lost | None = None, *,
                 interfaces: Iterable[str] | None = LOOPBACK, types: Iterable[str] = TYPES,
                 resolve_timeout: float = RESOLVE_TIMEOUT, on_invalid: Invalid | None = None,
                 zeroconf: AsyncZeroconf | None = None) -> None:
        self.on_found, self.on_lost, self.on_invalid = on_found, on_lost, on_invalid
        self.interfaces = list(interfaces) if interfaces else None
        self.types = list(types)
        self.resolve_timeout = resolve_timeout
        self._own = zeroconf is None
        self.azc = zeroconf
        self._browser: AsyncServiceBrowser | None = None
        self._names: dict[str, str] = {}          # service name -> device id
        self._tasks: set[asyncio.Task[None]] = set()
        self.invalid = 0

    async def async_start(self) -> None:
        if self.azc is None:
            self.azc = (AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
                        if self.interfaces else AsyncZeroconf(ip_version=IPVersion.V4Only))
        self._browser = AsyncServiceBrowser(self.azc.zeroconf, self.types,
                                            handlers=[self._on_change])

    async def async_stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        for task in list(self._tasks):
            task.cancel()
        if self._own and self.azc is not None:
            await self.azc.async_close()
            self.azc = None

    def _on_change(self, zeroconf: Any, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            device_id = self._names.pop(name, None)
            if device_id is not None and self.on_lost is not None:
                self.on_lost(device_id, name)
            return
        task = asyncio.ensure_future(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        assert self.azc is not None
        if not await info.async_request(self.azc.zeroconf, int(self.resolve_timeout * 1000)):
            self._refuse(name, "did not answer with its SRV and TXT records")
            return
        try:
            found = advertisement(dict(info.properties or {}), name=name,
                                  service_type=service_type,
                                  addresses=info.parsed_addresses(IPVersion.V4Only),
                                  port=info.port or 0)
        except CareFleetError as error:
            self._refuse(name, str(error))
            return
        old = self._names.get(name)
        if old is not None and old != found.device.id and self.on_lost is not None:
            self.on_lost(old, name)               # the same service now claims another id
        self._names[name] = found.device.id
        self.on_found(found)

    def _refuse(self, name: str, why: str) -> None:
        self.invalid += 1
        log.info("ignored advertisement %s: %s", name, why)
        if self.on_invalid is not None:
            self.on_invalid(name, why)


async def async_discover(timeout: float = 3.0, *, interfaces: Iterable[str] | None = LOOPBACK,
                         types: Iterable[str] = TYPES) -> list[Advertisement]:
    """Everything advertised within ``timeout`` seconds, by device id."""
    found: dict[str, Advertisement] = {}

    def add(advert: Advertisement) -> None:
        found[advert.device.id] = advert

    def lose(device_id: str, name: str) -> None:
        found.pop(device_id, None)
    discovery = Discovery(add, lose, interfaces=interfaces, types=types,
                          resolve_timeout=min(RESOLVE_TIMEOUT, max(timeout, 0.5)))
    await discovery.async_start()
    try:
        await asyncio.sleep(timeout)         # the caller asked to listen this long
    finally:
        await discovery.async_stop()
    return [found[k] for k in sorted(found)]


def discover(timeout: float = 3.0, *, interfaces: Iterable[str] | None = LOOPBACK,
             types: Iterable[str] = TYPES) -> list[Advertisement]:
    """The sync face of ``async_discover``; refuses to run inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(async_discover(timeout, interfaces=interfaces, types=types))
    raise RuntimeError("discover() blocks: inside an event loop use 'await async_discover()'")


class DiscoveryThread:
    """Discovery on its own thread and event loop (for a runtime without a loop of its
    own, e.g. the service's host thread model). ``start`` waits until browsing."""

    def __init__(self, on_found: Found, on_lost: Lost | None = None, *,
                 interfaces: Iterable[str] | None = LOOPBACK, **kwargs: Any) -> None:
        self._args = (on_found, on_lost)
        self._kwargs = dict(interfaces=interfaces, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._discovery: Discovery | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="device discovery", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("device discovery did not start in time")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._discovery = Discovery(*self._args, **self._kwargs)
            loop.run_until_complete(self._discovery.async_start())
        except BaseException as error:      # noqa: BLE001 - reported to start()
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._discovery.async_stop())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
