"""Site files: what ``carefleet serve SITE.yaml`` runs on one live ward.

A site file names the ward map, the robots (each with the driver that reaches it),
the meal and patrol schedules, the cameras, the store, the staff language, where the
service listens and how alerts escalate. The format is documented in the README
("Site file format"); ``fleet:`` and ``schedules:`` are the very sections scenarios
use, read by the same functions. Loading checks everything against the ward before
anything starts, so a mistake is one ``InputError`` naming the file, line and field.

Drivers are only *named* here (``module:Class``) and imported by ``resolve_driver``,
so a site file can be checked on a machine without the vendors' packages.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carefleet.devices.config import DeviceConfig, read_device_config
from carefleet.errors import InputError
from carefleet.maps import load_ward
from carefleet.maps.model import Ward
from carefleet.messages import DEFAULT_LANGUAGE, LANGUAGES
from carefleet.orchestrator.alerts import EscalationPolicy
from carefleet.orchestrator.schedules import Schedule
from carefleet.robots.driver import RobotDriver
from carefleet.robots.model import RobotSpec
from carefleet.simulation.scenario import read_fleet, read_schedules, ward_path
from carefleet.tasks.requests import check_place
from carefleet.vision.config import load_camera_config
from carefleet.yamlfile import Reader, load_yaml

#: Folder of the bundled example sites (``demo_site.yaml``).
SITES_DIR = Path(__file__).resolve().parent / "sites"
DEMO_SITE = SITES_DIR / "demo_site.yaml"

#: ``driver: simulated``: the built-in simulated robot (demos, training, dry runs).
SIMULATED = "simulated"
SIMULATED_TARGET = "carefleet.robots.drivers.sim:SimRobot"

#: Alert priorities the escalation times are given for.
ALERT_PRIORITIES = ("high", "medium", "low")
_DEFAULTS = EscalationPolicy()
DEFAULT_TIERS = _DEFAULTS.tiers
DEFAULT_ACKNOWLEDGE_WITHIN = dict(_DEFAULTS.acknowledge_within)
DEFAULT_RESOLVE_WITHIN = dict(_DEFAULTS.resolve_within)

DEFAULT_STORE = "carefleet.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_TOKEN_TTL = 8 * 3600.0

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_TARGET = re.compile(rf"^{_IDENTIFIER}(?:\.{_IDENTIFIER})*:{_IDENTIFIER}$")
_DURATION = re.compile(r"^(?=\d)(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?"
                       r"(?:(?P<s>\d+(?:\.\d+)?)s)?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverSpec:
    """Which driver class reaches one robot, and the parameters it is built with.

    ``target`` is ``"package.module:Class"`` or ``"simulated"``; ``params`` are the
    profile's ``driver_defaults`` with the robot's own ``params`` over them. ``source``,
    ``line`` and ``field`` say where the driver was named, for ``resolve_driver``'s errors.
    """

    target: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "site"
    line: int | None = None
    field: str = "driver"

    @property
    def simulated(self) -> bool:
        return self.target == SIMULATED


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraSpec:
    """A ward camera: its stream (a camera index ``"0"``, an ``rtsp://``/``http(s)://``
    URL or a video file) watches ``room``; ``config`` is its fall-detector file, if any."""

    id: str
    room: str
    url: str
    config: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    name: str
    source: str
    ward: Ward
    ward_file: str
    robots: tuple[RobotSpec, ...]
    drivers: dict[str, DriverSpec]          # robot id -> its driver
    schedules: tuple[Schedule, ...]
    cameras: tuple[CameraSpec, ...]
    store: Path
    language: str = DEFAULT_LANGUAGE
    listen_host: str = DEFAULT_HOST
    listen_port: int = DEFAULT_PORT
    alerts: EscalationPolicy = EscalationPolicy()
    token_ttl: float = DEFAULT_TOKEN_TTL    # seconds a staff login token stays valid
    devices: DeviceConfig = DeviceConfig()  # the ward's devices: allow-list, rules, discovery
    description: str = ""


def site_path(name: str | Path) -> Path:
    """A bundled site's name (``demo_site``) or a path to a site file."""
    text = str(name)
    bundled = SITES_DIR / f"{text}.yaml"
    if "/" not in text and not text.endswith((".yaml", ".yml")) and bundled.exists():
        return bundled
    return Path(name)


def load_site(path: str | Path) -> Site:
    """Read and validate a site file (raises ``InputError`` on the first problem).

    Nothing is started, opened or imported: drivers are checked for their syntax only
    (``resolve_driver`` imports them), cameras are not connected to, the store is not
    opened.
    """
    path = Path(path)
    top = Reader(str(path), load_yaml(path))
    top.only("name", "description", "ward", "fleet", "schedules", "cameras", "store",
             "language", "listen", "alerts", "token_ttl", "devices")
    name = top.str("name")
    top.get("ward")                          # a live site names its ward: no default
    ward_file = ward_path(top, path.parent)
    ward = load_ward(ward_file)
    robots = read_fleet(top, ward, fleet_fields=("driver_defaults",),
                        robot_fields=("driver", "params"))
    host, port = _listen(top)
    return Site(
        name=name, description=top.str("description", ""), source=str(path),
        ward=ward, ward_file=str(ward_file), robots=robots, drivers=_drivers(top),
        schedules=read_schedules(top, ward, robots), cameras=_cameras(top, ward, path.parent),
        store=_store(top, path.parent),
        language=top.str("language", DEFAULT_LANGUAGE, choices=LANGUAGES),
        listen_host=host, listen_port=port, alerts=_alerts(top),
        token_ttl=top.convert("token_ttl", _duration, DEFAULT_TOKEN_TTL),
        devices=read_device_config(top.mapping("devices"), ward, path.parent)
        if "devices" in top else DeviceConfig())


# -- drivers ------------------------------------------------------------------
def _drivers(top: Reader) -> dict[str, DriverSpec]:
    """``fleet.robots[i].driver`` / ``.params`` over ``fleet.driver_defaults[profile]``
    (``read_fleet`` has checked ids, profiles and places already)."""
    fleet = top.mapping("fleet")
    profiles = fleet.mapping("profiles").keys()
    defaults: dict[str, dict[str, Any]] = {}
    if "driver_defaults" in fleet:
        given = fleet.mapping("driver_defaults")
        for profile in given.keys():
            if profile not in profiles:
                raise given.error(str(profile), f"no profile '{profile}' in fleet.profiles "
                                  f"(profiles: {', '.join(map(str, profiles))})")
            defaults[profile] = _params(given, profile)
    drivers: dict[str, DriverSpec] = {}
    for robot in fleet.items("robots"):
        robot_id, profile = robot.str("id"), robot.str("profile")
        target = robot.convert("driver", _target)
        own = _params(robot, "params") if "params" in robot else {}
        if target == SIMULATED:
            if own:
                raise robot.error("params", "the simulated robot takes no driver parameters")
            params = {}                      # driver_defaults are for the real drivers
        else:
            params = {**defaults.get(profile, {}), **own}
        drivers[robot_id] = DriverSpec(target=target, params=params, source=top.source,
                                       line=robot.line_of("driver"),
                                       field=robot.field("driver"))
    return drivers


def _target(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected 'package.module:Class' or 'simulated'")
    value = value.strip()
    if value == SIMULATED_TARGET:
        raise ValueError(f"write 'driver: {SIMULATED}' for the built-in simulated robot")
    if value != SIMULATED and not _TARGET.match(value):
        raise ValueError(f"'{value}' is not 'package.module:Class' (a dotted module, a colon, "
                         f"a class name) or '{SIMULATED}'")
    return value


def _params(reader: Reader, key: str) -> dict[str, Any]:
    """A mapping of driver parameters: keyword names, plain YAML values."""
    given = reader.mapping(key)
    for name in given.keys():
        if not isinstance(name, str) or not re.fullmatch(_IDENTIFIER, name):
            raise given.error(str(name), f"'{name}' is no parameter name (letters, digits "
                              "and _, not starting with a digit)")
    return _plain(given.data)


def _plain(value: Any) -> Any:
    """YAML's line-carrying mappings and lists as plain ``dict`` and ``list``."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def resolve_driver(spec: DriverSpec) -> type:
    """Import the driver class ``spec`` names; a missing module or class, an import that
    fails, or a class that is no complete ``RobotDriver`` is a located ``InputError``."""
    target = SIMULATED_TARGET if spec.simulated else spec.target

    def error(message: str) -> InputError:
        return InputError(spec.source, message, field=spec.field, line=spec.line)

    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise error(f"no module '{exc.name}' (is the driver's package installed?)") from None
        raise error(f"importing '{module_name}' failed: {exc}") from None
    except Exception as exc:          # noqa: BLE001 - a vendor module's own bug, shown in one line
        raise error(f"importing '{module_name}' failed: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise error(f"module '{module_name}' has no '{class_name}'")
    if not inspect.isclass(cls):
        raise error(f"'{target}' is not a class")
    if not issubclass(cls, RobotDriver):
        raise error(f"'{target}' is not a RobotDriver subclass (see README, "
                    "'Writing a robot driver')")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise error(f"'{target}' does not implement {missing}")
    return cls


# -- cameras ------------------------------------------------------------------
def _cameras(top: Reader, ward: Ward, folder: Path) -> tuple[CameraSpec, ...]:
    cameras: list[CameraSpec] = []
    for camera in top.items("cameras", []):
        camera.only("id", "room", "url", "config")
        camera_id = camera.str("id")
        if any(c.id == camera_id for c in cameras):
            raise camera.error("id", f"camera id '{camera_id}' is used twice")
        room = check_place(camera, ward, "room", camera.str("room"))
        url = camera.convert("url", lambda value: _stream(value, folder))
        taken = next((c for c in cameras if c.url == url), None)
        if taken is not None:
            raise camera.error("url", f"camera '{taken.id}' already shows this stream")
        config = None
        if "config" in camera:
            config = (folder / camera.str("config")).resolve()
            if not config.is_file():
                raise camera.error("config", f"no camera file '{camera.str('config')}' "
                                   f"(looked for {config})")
            load_camera_config(config)     # its own mistakes are located in that file
        cameras.append(CameraSpec(id=camera_id, room=room, url=url, config=config))
    return tuple(cameras)


def _stream(value: Any, folder: Path) -> str:
    """A camera index (``0``), a stream URL, or a video file relative to the site file."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a camera index is 0 or more, got {value}")
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a camera index, an rtsp:// or http(s):// URL, or a video file")
    text = value.strip()
    if text.isdigit():
        return text
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in _STREAM_SCHEMES:
            raise ValueError(f"'{scheme}://' streams are not read (use "
                             f"{', '.join(s + '://' for s in _STREAM_SCHEMES)})")
        if not rest.split("/", 1)[0].rpartition("@")[2]:
            raise ValueError(f"'{text}' names no host")
        return text
    video = (folder / text).resolve()
    if not video.is_file():
        raise ValueError(f"no video file '{text}' (looked for {video})")
    return str(video)


def shown_url(url: str) -> str:
    """A stream URL fit to print: a password in it is replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if at and ":" in credentials:
        authority = f"{credentials.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{authority}{slash}{path}"


# -- store, listening, alerts -------------------------------------------------
def _store(top: Reader, folder: Path) -> Path:
    text = top.str("store", DEFAULT_STORE)
    if "://" in text:
        raise top.error("store", "the store is a SQLite file path (relative to the site file)")
    store = (folder / text).resolve()
    if store.is_dir():
        raise top.error("store", f"{store} is a folder, not a store file")
    if store.parent.exists() and not store.parent.is_dir():
        raise top.error("store", f"{store.parent} is not a folder")
    return store


def _listen(top: Reader) -> tuple[str, int]:
    if "listen" not in top:
        return DEFAULT_HOST, DEFAULT_PORT
    listen = top.mapping("listen")
    listen.only("host", "port")
    host = listen.convert("host", _host, DEFAULT_HOST)
    port = listen.number("port", DEFAULT_PORT, minimum=1, maximum=65535, integer=True)
    return host, port


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected an address (127.0.0.1, ::1, 0.0.0.0) or a host name")
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
        raise ValueError(f"'{text}' is neither an IP address nor a host name")
    return text


def _alerts(top: Reader) -> EscalationPolicy:
    if "alerts" not in top:
        return EscalationPolicy()
    alerts = top.mapping("alerts")
    alerts.only("tiers", "acknowledge_within", "resolve_within")
    tiers = alerts.strings("tiers", list(DEFAULT_TIERS))
    if not tiers:
        raise alerts.error("tiers", "at least one tier is needed: who hears of alerts first")
    for i, tier in enumerate(tiers):
        if tier in tiers[:i]:
            raise alerts.error("tiers", f"tier '{tier}' is listed twice")
    acknowledge = _times(alerts, "acknowledge_within", DEFAULT_ACKNOWLEDGE_WITHIN)
    resolve = _times(alerts, "resolve_within", DEFAULT_RESOLVE_WITHIN)
    for priority in ALERT_PRIORITIES:
        if acknowledge[priority] > resolve[priority]:
            key = "resolve_within" if priority in alerts.get("resolve_within", {}) \
                else "acknowledge_within"
            raise alerts.mapping(key).error(
                priority, f"a {priority} alert must be acknowledged within "
                f"{acknowledge[priority]:g} s but resolved within {resolve[priority]:g} s: "
                "it cannot be resolved before it is acknowledged")
    return EscalationPolicy(tiers=tuple(tiers), acknowledge_within=acknowledge,
                            resolve_within=resolve)


def _times(alerts: Reader, key: str, defaults: dict[str, float]) -> dict[str, float]:
    times = dict(defaults)
    if key in alerts:
        given = alerts.mapping(key)
        given.only(*ALERT_PRIORITIES)
        for priority in given.keys():
            times[priority] = given.convert(priority, _duration)
    return times


def _duration(value: Any) -> float:
    """Seconds: a number, or text like ``"90s"``, ``"2m"``, ``"1h"``, ``"1h30m"``."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration like 90s, 2m, 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().replace(" ", "")
        sign, text = (-1.0, text[1:]) if text.startswith("-") else (1.0, text)
        match = _DURATION.match(text)
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = sign * float(text)
        elif match and any(match.groupdict().values()):
            seconds = sign * (float(match["h"] or 0) * 3600 + float(match["m"] or 0) * 60
                              + float(match["s"] or 0))
        else:
            raise ValueError(f"'{value}' is not seconds or a duration like 90s, 2m, 1h")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite time")
    if seconds <= 0:
        raise ValueError(f"must be a positive time, got {value}")
    return seconds
