"""One ward, live: the host on the wall clock, its drivers, cameras and accounts.

``WardService`` is what ``carefleet serve`` runs and what the HTTP API talks to. It
owns no decisions (the core does) and no loop of its own (the host's ``run_forever``
runs on a thread here): it builds the host from a site file, builds each robot's
driver (``module:Class`` with its parameters, or a simulated robot on the same clock),
watches the site's cameras with the fall core, runs its devices (``DeviceManager``:
discovery, pairing, signed events, rules, health) and stops everything cleanly.
Blocking work (SQLite commits, driver calls, video) happens on the host's and the
cameras' threads, never on the web server's event loop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from carefleet.devices.manager import DeviceManager
from carefleet.errors import CareFleetError, InputError, SourceError
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import DeviceEvent, Event, FallDetected
from carefleet.orchestrator.host import Change, Host, ReadModel
from carefleet.orchestrator.store import TaskStore
from carefleet.service.accounts import Accounts
from carefleet.service.realtime import RealTimeWorld, ScaledClock
from carefleet.service.site import CameraSpec, Site, resolve_driver

log = logging.getLogger("carefleet.service")
#: Seconds between tries to reopen a camera that dropped (doubling up to the last).
CAMERA_RETRY = (5.0, 10.0, 30.0, 60.0)


class WardService:
    """A live ward: start it, post events to it, read it, stop it."""

    def __init__(self, site: Site, *, store: Path | None = None, speed: float = 1.0,
                 policy: Policy = Policy()) -> None:
        self.site = site
        self.store_path = Path(store or site.store)
        self.clock = ScaledClock(speed)
        self.policy = policy
        self.host = Host(self._build, str(self.store_path), clock=self.clock,
                         driver_timeout=5.0, core_faults="rebuild")
        self.read = ReadModel(self.host)
        self.accounts = Accounts(self.store_path)
        self.world = RealTimeWorld(self.host.core.planner, self.clock)
        self.host.subscribe(self._follow_closures)
        self.host.subscribe(self._log_faults)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reader = TaskStore(self.store_path, writer=False)
        self._reader_lock = threading.Lock()
        self.camera_state: dict[str, str] = {c.id: "starting" for c in site.cameras}
        self.devices = DeviceManager(site.ward, str(self.store_path), self.host.post,
                                     config=site.devices, ward_clock=self.clock.now)
        for spec in site.robots:
            self.host.drivers[spec.id] = self._driver(spec)

    def _build(self, incarnation: int) -> Orchestrator:
        return Orchestrator(self.site.ward, self.site.robots, start=self.clock.now(),
                            schedules=self.site.schedules, policy=self.policy,
                            incarnation=incarnation)

    def _driver(self, spec: Any) -> Any:
        driver = self.site.drivers[spec.id]
        if driver.simulated:
            return self.world.add_robot(spec, self.host.post)
        cls = resolve_driver(driver)
        try:
            return cls(spec.id, self.host.post, context=self.host.context(), **driver.params)
        except TypeError as exc:
            raise InputError(driver.source, f"driver {driver.target} does not take these "
                             f"parameters: {exc}", field=driver.field, line=driver.line) from None

    def _follow_closures(self, change: Change) -> None:
        if change.kind in ("task", "robot") and self.world.robots:
            self.world.passages_changed(self.host.core.closed)

    def _log_faults(self, change: Change) -> None:
        """Faults the core keeps no record of (a robot that would not stop, a failed
        commit, a core bug) go to the service's log, for whoever keeps it running."""
        if change.kind == "fault":
            log.warning("%s", change.data)

    # == lifetime ==========================================================
    def start(self) -> None:
        """Run the host loop, the simulated robots and the cameras on their threads."""
        self.world.start()
        self._spawn("host", self.host.run_forever, self._stop)
        for robot_id in sorted(self.host.drivers):
            self.host.ask_status(robot_id)
        for camera in self.site.cameras:
            self._spawn(f"camera {camera.id}", self._watch_camera, camera)
        self.devices.start()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop taking events, let the host finish the one in hand, close the store."""
        self.devices.stop()
        self._stop.set()
        self.host.wake()
        for thread in self._threads:
            if thread.name == "host":
                thread.join(timeout=10)
        self.world.stop()
        for driver in self.host.drivers.values():
            close = getattr(driver, "close", None)     # drivers with threads or links
            if callable(close):
                try:
                    close()
                except Exception:                      # a driver's trouble ends with it
                    pass
        self.host.close()
        self.accounts.close()
        self._reader.close()

    # == talking to the ward ===============================================
    def post(self, event: Event) -> Any:
        """Hand an event to the host (any thread); returns its future."""
        return self.host.post(event)

    def reading(self) -> Any:
        """The read-only store, one caller at a time (used from the API's threads)."""
        return _Locked(self._reader, self._reader_lock)

    # == cameras ===========================================================
    def _watch_camera(self, camera: CameraSpec) -> None:
        """Watch one camera until the service stops; a camera that drops is reported
        to staff once and retried with growing pauses."""
        from carefleet.vision.config import load_camera_config
        from carefleet.vision.detector import Detector
        from carefleet.vision.events import EventKind
        from carefleet.vision.sources import open_source
        from carefleet.vision.watch import watch

        failures = 0
        recorded = Path(camera.url).is_file()      # a video file is watched once, to its end
        while not self._stop.is_set():
            try:
                config = load_camera_config(camera.config) if camera.config else None
                detector = Detector(config)
                source = open_source(int(camera.url) if camera.url.isdigit() else camera.url)
                if self.camera_state.get(camera.id) == "down":
                    self.host.post(DeviceEvent(device_id=camera.id, kind="camera_up",
                                               room=camera.room))
                self.camera_state[camera.id] = "watching"

                def on_event(event: Any) -> None:
                    if event.kind is EventKind.FALL_DETECTED:
                        self.host.post(FallDetected(room=camera.room, source=camera.id,
                                                    confidence=min(max(event.confidence, 0), 1)))

                def on_failure(camera_id: str, error: SourceError) -> None:
                    raise error
                watch({camera.id: source}, detector, on_event=on_event, on_failure=on_failure)
                if recorded:
                    self.camera_state[camera.id] = "ended"
                    return
                raise SourceError(f"camera {camera.id}: the stream ended")
            except (CareFleetError, OSError) as error:
                failures += 1
                if self.camera_state.get(camera.id) != "down":      # told once, not per try
                    self.camera_state[camera.id] = "down"
                    self.host.post(DeviceEvent(device_id=camera.id, kind="camera_down",
                                               room=camera.room, data={"error": str(error)}))
            pause = CAMERA_RETRY[min(failures, len(CAMERA_RETRY)) - 1] if failures else 1.0
            self._stop.wait(pause)


class _Locked:
    """A proxy that holds a lock around every method call of the object it wraps."""

    def __init__(self, target: Any, lock: threading.Lock) -> None:
        self._target, self._lock = target, lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)
        return locked
