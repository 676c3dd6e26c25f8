"""Per-camera configuration: one YAML file per camera over one packaged default.

Every threshold has exactly one default, in ``default_camera.yaml`` beside this module
(with the physical reason for its value); a camera file overrides only what differs for
that camera (its zones, usually). Both are read through ``carefleet.yamlfile.Reader``
so a typo or a bad value is one located ``InputError``, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from carefleet.errors import InputError
from carefleet.yamlfile import Reader, load_yaml

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_camera.yaml")
BACKENDS = ("opencv", "pose", "auto")
ZONE_KINDS = ("bed", "sofa", "chair", "mat")
SNAPSHOTS = ("silhouette", "none")


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonSettings:
    """How the OpenCV path separates the person from the room (see ``person.py``)."""

    foreground_threshold: float
    motion_threshold: float
    recent_motion_s: float
    min_area: float
    background_time_s: float
    lost_after_s: float
    confirm_s: float
    max_people: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FallSettings:
    """When a change of posture counts as a fall (see ``fall_machine.py``)."""

    reference_window_s: float
    descent_window_s: float
    min_descent: float
    min_descent_speed: float
    down_height_ratio: float
    lying_aspect: float
    min_body_area: float
    collapsed_drop: float
    collapsed_height_ratio: float
    floor_drop: float
    land_within_s: float
    down_hold_s: float
    still_motion: float
    inactivity_s: float
    recover_height_ratio: float
    recover_hold_s: float
    steady_tolerance: float
    track_break_area: float
    track_break_shift: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Mounting:
    """Where the camera hangs, when known: the body scale before anyone is seen standing.

    ``height_m`` (lens above the floor) and ``tilt_deg`` (optical axis below the
    horizontal) are None when not given; the scale is then learnt from people walking
    through the view (see ``scale.py``).
    """

    height_m: float | None
    tilt_deg: float | None
    vfov_deg: float
    person_height_m: float

    @property
    def known(self) -> bool:
        return self.height_m is not None and self.tilt_deg is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Zone:
    """A place where lying down is expected (a bed, a sofa): no fall is raised there.

    ``polygon`` is in frame fractions (0..1), so a zone survives a resolution change.
    """

    name: str
    kind: str
    polygon: tuple[tuple[float, float], ...]

    def contains(self, x: float, y: float) -> bool:
        """Whether the point (frame fractions) lies inside the polygon (even-odd rule)."""
        inside = False
        points = self.polygon
        for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraConfig:
    """Everything the detector needs to know about one camera."""

    camera_id: str | None
    fps: float
    width: int
    backend: str
    snapshot: str
    person: PersonSettings
    fall: FallSettings
    mounting: Mounting = field(default=Mounting(height_m=None, tilt_deg=None, vfov_deg=50.0,
                                                person_height_m=1.65))
    zones: tuple[Zone, ...] = field(default=())
    pose_fall_overrides: tuple[tuple[str, float], ...] = field(default=())
    """``pose: {fall: ...}``: the fall thresholds that differ on the pose backend, which
    measures a landmark box instead of a silhouette box (see ``default_camera.yaml``)."""

    @property
    def pose_fall(self) -> FallSettings:
        """The fall thresholds the pose backend uses: ``fall`` with the pose overrides."""
        return replace(self.fall, **dict(self.pose_fall_overrides))

    def fall_for(self, backend: str) -> FallSettings:
        """The fall thresholds for a backend actually in use (``opencv`` or ``pose``)."""
        return self.pose_fall if backend == "pose" else self.fall


def default_config() -> CameraConfig:
    """The packaged defaults (the thresholds every evaluation figure was measured with)."""
    return _parse(_read(DEFAULT_CONFIG_PATH), None)


def load_camera_config(path: str | Path) -> CameraConfig:
    """A camera file over the defaults; any mistake is an ``InputError`` naming the line."""
    return _parse(_read(Path(path)), default_config())


def _read(path: Path) -> Reader:
    data = load_yaml(path)
    if data is None:
        data = {}
    return Reader(str(path), data)


def _parse(reader: Reader, base: CameraConfig | None) -> CameraConfig:
    """Build a config from ``reader``; every key it lacks comes from ``base``.

    With ``base`` None (the packaged defaults) every key is required, so a default
    cannot silently go missing.
    """
    reader.only("camera_id", "process", "backend", "snapshot", "person", "fall", "pose",
                "mounting", "zones")
    process = _mapping(reader, "process", base)
    process.only("fps", "width")
    camera_id = reader.get("camera_id", base.camera_id if base else None)
    fall = _settings(reader, "fall", FallSettings, base.fall if base else None)
    return CameraConfig(
        camera_id=None if camera_id is None else reader.str("camera_id"),
        fps=process.number("fps", **_default(base, "fps"), positive=True, maximum=120),
        width=process.number("width", **_default(base, "width"), integer=True,
                             minimum=64, maximum=1920),
        backend=reader.str("backend", **_default(base, "backend"), choices=BACKENDS),
        snapshot=reader.str("snapshot", **_default(base, "snapshot"), choices=SNAPSHOTS),
        person=_settings(reader, "person", PersonSettings, base.person if base else None),
        fall=fall,
        mounting=_mounting(reader, base.mounting if base else None),
        zones=tuple(_zone(item) for item in reader.items("zones", []))
        if "zones" in reader or base is None else base.zones,
        pose_fall_overrides=_pose_overrides(reader, fall, base),
    )


def _default(base: Any, name: str) -> dict[str, Any]:
    """``Reader`` keyword for "fall back on base's value", or nothing (required)."""
    return {} if base is None else {"default": getattr(base, name)}


def _mapping(reader: Reader, key: str, base: Any) -> Reader:
    """A section as a Reader; an absent section is empty when there is a base."""
    if key in reader or base is None:
        return reader.mapping(key)
    return Reader(reader.source, {}, reader.field(key), reader.line)


def _settings(reader: Reader, key: str, cls: type, base: Any) -> Any:
    """Read a flat section of positive numbers into ``cls``, falling back on ``base``."""
    section = _mapping(reader, key, base)
    section.only(*(f.name for f in fields(cls)))
    result = cls(**{f.name: section.number(f.name, **_default(base, f.name), positive=True)
                    for f in fields(cls)})
    _check_cross_field(section, result)
    return result


def _mounting(reader: Reader, base: Mounting | None) -> Mounting:
    """The ``mounting`` section; ``height_m`` and ``tilt_deg`` may be null (unknown)."""
    section = _mapping(reader, "mounting", base)
    section.only("height_m", "tilt_deg", "vfov_deg", "person_height_m")

    def optional(key: str, default: float | None, **limits: float) -> float | None:
        if key not in section:
            return default if base is not None else section.get(key)  # required: raises
        return None if section.get(key) is None else section.number(key, **limits)

    result = Mounting(
        height_m=optional("height_m", base.height_m if base else None, minimum=0.3,
                          maximum=8.0),
        tilt_deg=optional("tilt_deg", base.tilt_deg if base else None, minimum=-30.0,
                          maximum=90.0),
        vfov_deg=section.number("vfov_deg", **_default(base, "vfov_deg"), minimum=10.0,
                                maximum=150.0),
        person_height_m=section.number("person_height_m", **_default(base, "person_height_m"),
                                       minimum=0.8, maximum=2.3))
    if (result.height_m is None) != (result.tilt_deg is None):
        raise section.error("height_m" if result.height_m is None else "tilt_deg",
                            "give both height_m and tilt_deg (or neither): the body scale "
                            "needs the camera's height and its tilt")
    return result


def _pose_overrides(reader: Reader, fall: FallSettings,
                    base: CameraConfig | None) -> tuple[tuple[str, float], ...]:
    """The ``pose: {fall: {...}}`` section: fall thresholds for the pose backend only.

    A camera file's entries are added to (or replace) the packaged ones; the result,
    applied over the camera's ``fall`` section, must pass the same checks as ``fall``.
    """
    overrides = dict(base.pose_fall_overrides) if base else {}
    if "pose" in reader:
        pose = reader.mapping("pose")
        pose.only("fall")
        if "fall" in pose:
            section = pose.mapping("fall")
            section.only(*(f.name for f in fields(FallSettings)))
            for name in section.keys():
                overrides[name] = section.number(name, positive=True)
            _check_cross_field(section, replace(fall, **overrides))
    return tuple(sorted(overrides.items()))


def _check_cross_field(section: Reader, settings: Any) -> None:
    """Relations between thresholds that a single range check cannot see."""
    if isinstance(settings, FallSettings):
        if settings.recover_height_ratio <= settings.down_height_ratio:
            raise section.error("recover_height_ratio",
                                "must be greater than down_height_ratio, or a lying person "
                                "would count as recovered")
        if settings.down_height_ratio >= 1:
            raise section.error("down_height_ratio", "must be below 1 (a fraction of the "
                                                     "person's upright height)")


def _zone(item: Reader) -> Zone:
    item.only("name", "kind", "polygon")
    raw = item.get("polygon")
    if not isinstance(raw, list) or len(raw) < 3:
        raise item.error("polygon", "expected a list of at least 3 [x, y] points")
    points = []
    for i, point in enumerate(raw):
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
                or not all(0.0 <= v <= 1.0 for v in point)):
            raise InputError(item.source, "expected [x, y] with both in 0..1 (fractions of "
                             "the frame)", field=f"{item.field('polygon')}[{i}]",
                             line=item.line_of("polygon"))
        points.append((float(point[0]), float(point[1])))
    return Zone(name=item.str("name"), kind=item.str("kind", choices=ZONE_KINDS),
                polygon=tuple(points))
