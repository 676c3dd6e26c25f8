"""Draw a ward as a PNG: one panel per floor, for staff, reports and map authors.

The picture is how a ward author checks a new map ("is room 214 really on that
side?") and how reports show where robots were, so it favours readable labels over
detail: room numbers, coloured place kinds, one-way arrows, doors, corridors and lifts
(a landing marker on each floor a lift serves, joined by its shaft across the panels).
Uses matplotlib's Agg backend only (no display needed, safe in CI and services).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import ConnectionPatch  # noqa: E402

from carefleet.files import write_atomically  # noqa: E402
from carefleet.maps.model import Floor, Lane, Lift, PlaceKind, Ward  # noqa: E402

Robots = Mapping[str, tuple[str, float, float]]
"""Robot name -> (floor id, x, y)."""

KIND_COLOURS = {
    PlaceKind.RESIDENT_ROOM: "#4e79a7", PlaceKind.BED: "#a0cbe8",
    PlaceKind.KITCHEN: "#f28e2b", PlaceKind.NURSE_STATION: "#e15759",
    PlaceKind.CHARGER: "#59a14f", PlaceKind.LIFT: "#b07aa1",
    PlaceKind.DOOR: "#9c755f", PlaceKind.LOUNGE: "#edc948",
    PlaceKind.BATHROOM: "#76b7b2", PlaceKind.STORE: "#bab0ac",
    PlaceKind.CORRIDOR: "#ff9da7",
}
LANE_COLOUR = "#555555"
SLOW_COLOUR = "#d4a017"
DOOR_COLOUR = "#9c755f"
ROBOT_COLOUR = "#d62728"
LIFT_COLOUR = "#7b3f8c"
DPI = 110


def render_ward(ward: Ward, out_path: str | Path, *, robots: Robots | None = None) -> Path:
    """Write the ward picture as a PNG file and return its path."""
    return write_atomically(out_path, render_ward_png(ward, robots=robots))


def render_ward_png(ward: Ward, *, robots: Robots | None = None) -> bytes:
    """The ward picture as PNG bytes, e.g. to embed base64 in an HTML report."""
    figure = ward_figure(ward, robots=robots)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def ward_figure(ward: Ward, *, robots: Robots | None = None) -> Figure:
    """A matplotlib figure of the ward (caller closes it), for callers adding their own layers."""
    floors = sorted(ward.floors.values(), key=lambda f: (-f.elevation, f.id))  # top floor first
    bounds = {f.id: _bounds(ward, f) for f in floors}
    width = max(b[2] - b[0] for b in bounds.values())
    heights = [b[3] - b[1] for b in bounds.values()]
    inches = 16.0 / width
    figure, axes = plt.subplots(
        len(floors), 1, squeeze=False, gridspec_kw={"height_ratios": heights},
        figsize=(16.5, sum(heights) * inches + 0.8 * len(floors) + 1.0))
    panels = dict(zip((f.id for f in floors), axes[:, 0]))
    for floor in floors:
        _draw_floor(panels[floor.id], ward, floor, bounds[floor.id], robots or {})
    for lift in sorted(ward.lifts.values(), key=lambda lift: lift.id):
        _draw_lift(figure, ward, lift, floors, panels)
    _legend(figure, ward, bool(robots))
    figure.suptitle(ward.name, fontsize=15, fontweight="bold")
    figure.tight_layout(rect=(0, 0.05, 1, 0.97))
    return figure


def _bounds(ward: Ward, floor: Floor) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) around a floor's waypoints and places, with a margin."""
    xs = [w.x for w in ward.waypoints.values() if w.floor == floor.id]
    ys = [w.y for w in ward.waypoints.values() if w.floor == floor.id]
    xs += [p.x for p in ward.places.values() if p.floor == floor.id]
    ys += [p.y for p in ward.places.values() if p.floor == floor.id]
    if not xs:
        return 0.0, 0.0, 10.0, 10.0
    return min(xs) - 2.5, min(ys) - 2.5, max(xs) + 2.5, max(ys) + 2.5


def _draw_floor(ax: Axes, ward: Ward, floor: Floor, bounds: tuple[float, float, float, float],
                robots: Robots) -> None:
    if floor.grid is not None:
        _draw_grid(ax, floor)
    for lane in ward.lanes:
        if ward.waypoints[lane.start].floor == floor.id:
            _draw_lane(ax, ward, lane)
    _draw_corridor_names(ax, ward, floor)
    points = [w for w in ward.waypoints.values() if w.floor == floor.id]
    ax.scatter([w.x for w in points], [w.y for w in points], s=6, c=LANE_COLOUR, zorder=3)
    _draw_places(ax, ward, floor)
    _draw_robots(ax, floor, robots)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_title(f"{floor.name} ({floor.id})", loc="left", fontsize=12)
    ax.set_xlabel("x (m)", fontsize=8)
    ax.set_ylabel("y (m)", fontsize=8)
    ax.tick_params(labelsize=7)


def _draw_grid(ax: Axes, floor: Floor) -> None:
    """The occupancy grid in soft greys under everything else."""
    import cv2  # late: rendering without grids should not pay for OpenCV

    grid = floor.grid
    image = cv2.imread(grid.image, cv2.IMREAD_GRAYSCALE)
    height, width = image.shape
    x0, y0 = grid.origin
    extent = (x0, x0 + width * grid.resolution, y0, y0 + height * grid.resolution)
    ax.imshow(image, cmap="gray", vmin=-120, vmax=290, extent=extent, origin="upper",
              interpolation="nearest", zorder=0)


def _draw_lane(ax: Axes, ward: Ward, lane: Lane) -> None:
    a, b = ward.waypoints[lane.start], ward.waypoints[lane.end]
    colour = SLOW_COLOUR if lane.speed_limit is not None else LANE_COLOUR
    ax.plot([a.x, b.x], [a.y, b.y], color=colour, lw=1.6, zorder=2, solid_capstyle="round")
    mid_x, mid_y = (a.x + b.x) / 2, (a.y + b.y) / 2
    if lane.one_way:
        ax.annotate("", xy=(mid_x + (b.x - a.x) * 0.15, mid_y + (b.y - a.y) * 0.15),
                    xytext=(mid_x - (b.x - a.x) * 0.15, mid_y - (b.y - a.y) * 0.15),
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.6,
                                "mutation_scale": 16}, zorder=4)
    if lane.door:
        ax.plot([mid_x], [mid_y], marker="s", ms=9, mfc="white", mec=DOOR_COLOUR, mew=2.2,
                zorder=4)


def _draw_corridor_names(ax: Axes, ward: Ward, floor: Floor) -> None:
    """Each corridor's name once, at the middle of its lanes, so a closure can be read off."""
    corridors: dict[str, list[tuple[float, float]]] = {}
    for lane in ward.lanes:
        a, b = ward.waypoints[lane.start], ward.waypoints[lane.end]
        if lane.corridor and a.floor == floor.id:
            corridors.setdefault(lane.corridor, []).extend([(a.x, a.y), (b.x, b.y)])
    for name, points in corridors.items():
        points.sort()
        x, y = points[len(points) // 2]
        ax.text(x, y - 0.55, name, fontsize=6.5, style="italic", color="#333333",
                ha="center", va="top", zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})


def _draw_places(ax: Axes, ward: Ward, floor: Floor) -> None:
    for place in ward.places.values():
        if place.floor != floor.id:
            continue
        colour = KIND_COLOURS[place.kind]
        if place.kind is PlaceKind.BED:
            ax.plot(place.x, place.y, marker="s", ms=5, color=colour, mec="#4e79a7", zorder=5)
            continue
        ax.plot(place.x, place.y, marker="o", ms=9, color=colour, mec="black", mew=0.6, zorder=6)
        ax.text(place.x, place.y + 0.7, _short_label(place.label, place.kind), fontsize=7.5,
                ha="center", va="bottom", zorder=7, fontweight="bold"
                if place.kind is PlaceKind.RESIDENT_ROOM else "normal")


def _short_label(label: str, kind: PlaceKind) -> str:
    """Room numbers alone ("214"): 16 "Room 2xx" labels per corridor would overlap."""
    if kind is PlaceKind.RESIDENT_ROOM and label.lower().startswith("room "):
        return label[5:]
    return label


def _draw_robots(ax: Axes, floor: Floor, robots: Robots) -> None:
    for name, (floor_id, x, y) in sorted(robots.items()):
        if floor_id == floor.id:
            ax.plot(x, y, marker="^", ms=14, color=ROBOT_COLOUR, mec="black", zorder=8)
            ax.text(x + 0.6, y - 0.6, name, fontsize=8, color=ROBOT_COLOUR, fontweight="bold",
                    va="top", zorder=8)


def _draw_lift(figure: Figure, ward: Ward, lift: Lift, floors: list[Floor],
               panels: Mapping[str, Axes]) -> None:
    """A landing marker and label on each floor the lift serves, and its shaft: a dashed
    line from each landing to the one on the next panel down. Every artist has the gid
    ``lift:<id>`` (kept in SVG output too, and what the tests look for)."""
    gid = f"lift:{lift.id}"
    served = [f for f in floors if f.id in lift.stops]   # top floor first, like the panels
    label = f"{lift.id} ({' / '.join(f.id for f in reversed(served))}, {lift.transfer_time:g} s)"
    landings = []
    for floor in served:
        ax, landing = panels[floor.id], ward.waypoints[lift.stops[floor.id]]
        ax.plot(landing.x, landing.y, marker="s", ms=15, mfc="none", mec=LIFT_COLOUR, mew=2.4,
                zorder=6, gid=gid)
        ax.text(landing.x + 0.3, landing.y - 0.8, label, fontsize=7, color=LIFT_COLOUR,
                fontweight="bold", ha="left", va="top", zorder=7, gid=gid,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        landings.append((ax, landing))
    for (upper, a), (lower, b) in zip(landings, landings[1:]):
        shaft = ConnectionPatch(xyA=(a.x, a.y), coordsA=upper.transData, xyB=(b.x, b.y),
                                coordsB=lower.transData, color=LIFT_COLOUR, lw=1.8,
                                ls=(0, (4, 3)), alpha=0.8, zorder=1, gid=gid)
        figure.add_artist(shaft)


def _legend(figure: Figure, ward: Ward, with_robots: bool) -> None:
    kinds = [k for k in PlaceKind if any(p.kind is k for p in ward.places.values())]
    handles = [Line2D([], [], marker="s" if k is PlaceKind.BED else "o", ls="", ms=8,
                      color=KIND_COLOURS[k], mec="black", mew=0.5,
                      label=k.value.replace("_", " ")) for k in kinds]
    handles += [Line2D([], [], color=LANE_COLOUR, lw=1.6, label="lane"),
                Line2D([], [], color=SLOW_COLOUR, lw=1.6, label="lane with speed limit"),
                Line2D([], [], marker=r"$\rightarrow$", ls="", ms=12, color=LANE_COLOUR,
                       label="one-way lane"),
                Line2D([], [], marker="s", ls="", ms=8, mfc="white", mec=DOOR_COLOUR, mew=2,
                       label="door on lane")]
    if ward.lifts:
        handles.append(Line2D([], [], marker="s", ls=(0, (4, 3)), ms=9, mfc="none",
                              mec=LIFT_COLOUR, mew=2, color=LIFT_COLOUR,
                              label="lift (shaft between floors)"))
    if with_robots:
        handles.append(Line2D([], [], marker="^", ls="", ms=10, color=ROBOT_COLOUR,
                              mec="black", label="robot"))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8),
                  fontsize=8, frameon=False)
