"""Finding the person on the OpenCV path: a background model that never learns the person.

Three masks, at processing resolution:

- *foreground*: where the frame differs from the background model;
- *recent motion*: where a pixel changed between frames within ``recent_motion_s``;
- *person*: the foreground that is moving now, or that was the person when they stopped.

The background model is a running average with a selective update: the room is relearnt
(``background_time_s``) everywhere except under the person. That is what keeps a person
who lies still after a fall from fading into the background, and what clears the
"ghost" a person leaves where they stood in the first frame (clips and live streams
start with the person already in view): a ghost is foreground that does not move, so it
is not the person and is learnt away like any other change to the room.

While the whole body moves (walking, falling) the person is exactly the recently moving
foreground; that drops the ghost trail within ``recent_motion_s``. While only part of it
moves (an arm, breathing) the person is the previous silhouette grown by the moving part,
so a still body is held rather than shrunk to the arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from carefleet.vision.config import PersonSettings

#: Share of the held silhouette that must be moving for the body to count as moving as a
#: whole (walking, falling); below it only a part moves and the silhouette is kept.
WHOLE_BODY_MOVING = 0.5

#: How much a moving blob at the person's last place is preferred over a bigger one
#: elsewhere (another resident, a carer walking past): stay with the person we follow.
ANCHOR_PREFERENCE = 3.0

_SMALL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
_BODY = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


@dataclass(frozen=True, slots=True)
class Observation:
    """The person in one frame, at processing resolution, from either backend."""

    box: tuple[int, int, int, int]
    """``(x, y, w, h)`` around the person."""
    motion: float
    """Share of the person's pixels that changed since the previous frame (0..1)."""
    angle: float
    """The body's long axis from horizontal in degrees: 90 upright, 0 lying."""
    mask: np.ndarray | None = None
    """The silhouette (uint8 0/255), for privacy-safe snapshots; None if not available."""
    track: int = 0
    """Which person of this camera (the finder's track number)."""


def silhouette_geometry(mask: np.ndarray) -> tuple[tuple[int, int, int, int], float] | None:
    """Box and long-axis angle of a binary mask (image moments), or None if empty."""
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] <= 0:
        return None
    x, y, w, h = cv2.boundingRect(mask)
    angle = 0.5 * math.degrees(math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"]))
    return (x, y, w, h), abs(angle) if abs(angle) <= 90 else 180 - abs(angle)


class _Track:
    """One person the finder follows: the silhouette and where it may be found next."""

    __slots__ = ("id", "anchor", "mask", "box", "seen_t", "born_t", "moved_t", "confirmed",
                 "moving")

    def __init__(self, track_id: int, live: np.ndarray, t: float) -> None:
        self.id = track_id
        self.anchor = cv2.dilate(live, _BODY)
        self.mask = live
        self.box = cv2.boundingRect(live)
        self.seen_t = self.born_t = self.moved_t = t
        self.confirmed = False
        self.moving = True
        """Whether the whole body moved in the last frame (else the silhouette is held)."""


class PersonFinder:
    """Background/motion model for one camera; feed it grey frames in time order.

    It follows up to ``max_people`` people at once, each a track with its own held
    silhouette: a person who lies still keeps theirs while somebody else walks past,
    and a blob that touches two people is split between them (each pixel to the one
    whose silhouette it is nearest), so a bystander does not move a fallen person's box.
    A new moving blob becomes a person once it has kept moving for ``confirm_s``: the
    ghost a person leaves where they stood in the first frame moves only once.
    """

    def __init__(self, settings: PersonSettings) -> None:
        self.settings = settings
        self._background: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._last_motion: np.ndarray | None = None
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._previous_t = 0.0
        self.foreground: np.ndarray | None = None
        """The last foreground mask (kept for the report's silhouette thumbnails)."""
        self.merged: list[tuple[int, int]] = []
        """``(kept, gone)`` track numbers merged in the last frame (one body, two tracks)."""
        self._unlearnt: np.ndarray | None = None
        """Where the background model still holds the first frame (not yet learnt from
        the room for ``background_time_s``): the only places a ghost can be."""
        self._learning: np.ndarray | None = None

    def observe(self, grey: np.ndarray, t: float) -> Observation | None:
        """The main person in this frame (see ``observe_all``), or None."""
        people = self.observe_all(grey, t)
        return people[0] if people else None

    def observe_all(self, grey: np.ndarray, t: float) -> list[Observation]:
        """Every person followed in this frame, the longest-followed first."""
        if self._background is None or grey.shape != self._background.shape:
            self._start(grey, t)
            return []
        s = self.settings
        moved = cv2.absdiff(grey, self._previous) > s.motion_threshold
        self._last_motion[moved] = t
        foreground = cv2.absdiff(grey, cv2.convertScaleAbs(self._background)) > s.foreground_threshold
        foreground = cv2.morphologyEx(foreground.view(np.uint8) * 255, cv2.MORPH_OPEN, _SMALL)
        recent = ((t - self._last_motion) <= s.recent_motion_s).view(np.uint8) * 255
        foreground = self._clear_ghosts(grey, foreground, recent)
        live = cv2.morphologyEx(cv2.bitwise_and(foreground, cv2.dilate(recent, _SMALL)),
                                cv2.MORPH_CLOSE, _BODY)
        moved_mask = moved.view(np.uint8) * 255
        self.merged = []
        self._update_tracks(foreground, live, moved_mask, t)
        self._learn(grey, t)
        self._previous, self._previous_t = grey, t
        self.foreground = foreground
        people = []
        for track in self._tracks:
            geometry = silhouette_geometry(track.mask)
            if geometry is None:
                continue
            box, angle = geometry
            area = max(1, cv2.countNonZero(track.mask))
            motion = cv2.countNonZero(cv2.bitwise_and(track.mask, moved_mask)) / area
            people.append(Observation(box=box, motion=motion, angle=angle, mask=track.mask,
                                      track=track.id))
        return people

    def _start(self, grey: np.ndarray, t: float) -> None:
        self._background = grey.astype(np.float32)
        self._unlearnt = np.full(grey.shape, 255, np.uint8)
        self._learning = np.zeros(grey.shape, np.float32)
        self._previous, self._previous_t = grey, t
        self._last_motion = np.full(grey.shape, -math.inf, np.float32)
        self._tracks = []

    def _clear_ghosts(self, grey: np.ndarray, foreground: np.ndarray,
                      recent: np.ndarray) -> np.ndarray:
        """Learn away at once the foreground that is a hole in the background model.

        A person in view in the first frame is part of the background model; when they
        step away, the place they stood differs from it (a *ghost*) and, not moving,
        would be held as part of them (their anchor covered it) and never relearnt. A
        ghost is told from a real still object (a person lying after a fall) by its
        outline: the outline of a ghost is an edge of the background model (the person
        who was there) but not of the frame (the wall behind them), the outline of a
        real object is an edge of the frame. Ghost pixels take the frame's values.
        Only where the model has not yet been learnt from the room (``_unlearnt``: it
        still holds the first frame there) can there be a ghost: elsewhere an outline
        that happens to run along the furniture behind someone is not a reason.
        """
        static = cv2.bitwise_and(foreground, cv2.bitwise_not(recent))
        static = cv2.bitwise_and(static, self._unlearnt)
        if not cv2.countNonZero(static):
            return foreground
        count, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        min_area = GHOST_MIN_AREA * self.settings.min_area * static.size
        candidates = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
        if not candidates:
            return foreground
        background = cv2.convertScaleAbs(self._background)
        frame_edges, model_edges = _gradient(grey), _gradient(background)
        for i in candidates:
            x, y, w, h = (int(v) for v in stats[i, :4])
            piece = (labels[y:y + h, x:x + w] == i).view(np.uint8)
            outline = piece - cv2.erode(piece, _SMALL, borderType=cv2.BORDER_CONSTANT,
                                        borderValue=0)
            on = outline > 0
            if np.count_nonzero(on) < GHOST_MIN_OUTLINE:
                continue
            in_frame = float(frame_edges[y:y + h, x:x + w][on].mean())
            in_model = float(model_edges[y:y + h, x:x + w][on].mean())
            if in_model >= GHOST_MODEL_EDGE and in_frame < GHOST_FRAME_SHARE * in_model:
                region = cv2.dilate(piece, _SMALL) > 0
                self._background[y:y + h, x:x + w][region] = grey[y:y + h, x:x + w][region]
                foreground[y:y + h, x:x + w][region] = 0
                self._unlearnt[y:y + h, x:x + w][region] = 0
        return foreground

    # -- tracks -------------------------------------------------------------------
    def _update_tracks(self, foreground: np.ndarray, live: np.ndarray, moved: np.ndarray,
                       t: float) -> None:
        s = self.settings
        count, labels, stats, _ = cv2.connectedComponentsWithStats(live, connectivity=8)
        min_area = s.min_area * live.size
        big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
        parts: dict[int, list[np.ndarray]] = {track.id: [] for track in self._tracks}
        extent = {track.id: tuple(track.box) for track in self._tracks}
        unclaimed: list[int] = []
        for i in sorted(big, key=lambda i: -stats[i, cv2.CC_STAT_AREA]):
            owners = self._owners(labels, i, stats[i, :4])
            if not owners:
                unclaimed.append(i)
            elif len(owners) == 1:
                parts[owners[0].id].append(_component(labels, i))
                extent[owners[0].id] = _union_box(extent[owners[0].id], stats[i, :4])
            else:
                for track, piece in self._split(labels, i, stats[i, :4], owners):
                    parts[track.id].append(piece)
                    extent[track.id] = _union_box(extent[track.id], cv2.boundingRect(piece))
        # pieces around where a person is now, touching nobody and smaller than them, are
        # that person's limbs (a body-sized one is somebody else)
        areas = {track.id: cv2.countNonZero(track.mask) for track in self._tracks}
        for i in list(unclaimed):
            near = [track for track in self._tracks
                    if overlaps(stats[i, :4], _surroundings(extent[track.id]))
                    and stats[i, cv2.CC_STAT_AREA] <= LIMB_SHARE * areas[track.id]]
            if near:
                track = max(near, key=lambda k: _box_overlap(stats[i, :4], extent[k.id]))
                parts[track.id].append(_component(labels, i))
                unclaimed.remove(i)
        taken = np.zeros_like(live)
        for track in self._tracks:
            for piece in parts[track.id]:
                cv2.bitwise_or(taken, piece, dst=taken)
        for track in list(self._tracks):
            mine = _union(parts[track.id], live)
            others = cv2.bitwise_and(taken, cv2.bitwise_not(mine)) if mine is not None else taken
            self._follow(track, foreground, mine, others, moved, t)
        for group in _groups(unclaimed, stats):
            if len([k for k in self._tracks if k.confirmed]) >= s.max_people:
                break
            mask = _union([_component(labels, i) for i in group], live)
            if cv2.countNonZero(cv2.bitwise_and(mask, moved)):
                self._tracks.append(_Track(self._next_id, mask, t))
                self._next_id += 1
        self._merge_duplicates()

    def _owners(self, labels: np.ndarray, i: int, box: np.ndarray) -> list[_Track]:
        """The tracks whose anchor holds a real share of component ``i``."""
        x, y, w, h = (int(v) for v in box)
        piece = labels[y:y + h, x:x + w] == i
        area = max(1, int(piece.sum()))
        owners = []
        for track in self._tracks:
            if not overlaps(box, track.box) and not overlaps(box, _surroundings(track.box, 0.1)):
                continue
            inside = int(np.count_nonzero(piece & (track.anchor[y:y + h, x:x + w] > 0)))
            if inside >= SHARE_OF_PIECE * area:
                owners.append(track)
        return owners

    def _split(self, labels: np.ndarray, i: int, box: np.ndarray,
               owners: list[_Track]) -> list[tuple[_Track, np.ndarray]]:
        """One blob touching several people: each pixel to the nearest silhouette.

        A person who was held still (lying after a fall) gets only the pixels inside
        their own anchor: somebody walking past them does not become part of them."""
        x, y, w, h = (int(v) for v in box)
        piece = labels[y:y + h, x:x + w] == i
        distances = []
        for track in owners:
            outside = cv2.bitwise_not(track.mask[y:y + h, x:x + w])
            distances.append(cv2.distanceTransform(outside, cv2.DIST_L2, 3))
        nearest = np.argmin(np.stack(distances), axis=0)
        result = []
        for k, track in enumerate(owners):
            own = piece & (nearest == k)
            if not track.moving:
                own &= track.anchor[y:y + h, x:x + w] > 0
            full = np.zeros(labels.shape, np.uint8)
            full[y:y + h, x:x + w] = own.view(np.uint8) * 255
            result.append((track, full))
        return result

    def _follow(self, track: _Track, foreground: np.ndarray, live: np.ndarray | None,
                others: np.ndarray, moved: np.ndarray, t: float) -> None:
        """Whole-body motion replaces the silhouette; partial motion grows it.

        The held silhouette is the foreground inside a fixed *anchor* (the last
        whole-body silhouette, dilated once, plus any part that moved since within reach
        of it), less what other people's moving silhouettes took this frame. It never grows by itself:
        growing into adjacent foreground every frame would flood into the ghost a person
        leaves where they stood in the first frame. With no foreground left under the
        anchor the last silhouette is kept for ``lost_after_s`` (a flicker, a lighting
        change) before the person counts as gone. A track not yet confirmed is dropped
        as soon as it stops moving.
        """
        s = self.settings
        if not track.confirmed:
            moving = live is not None and cv2.countNonZero(cv2.bitwise_and(live, moved)) > 0
            if moving:
                track.moved_t = t
            if live is None or t - track.moved_t > TENTATIVE_STILL_S:
                self._tracks.remove(track)
                return
            track.anchor, track.mask, track.seen_t = cv2.dilate(live, _BODY), live, t
            track.box = cv2.boundingRect(live)
            track.confirmed = moving and t - track.born_t >= s.confirm_s
            return
        held = cv2.bitwise_and(foreground, track.anchor)
        held = cv2.bitwise_and(held, cv2.bitwise_not(others))
        if cv2.countNonZero(held) < s.min_area * held.size:
            held = None
        if live is not None and (held is None or cv2.countNonZero(cv2.bitwise_and(
                live, track.anchor)) >= WHOLE_BODY_MOVING * cv2.countNonZero(held)):
            track.anchor, track.mask, track.seen_t, track.moving = (cv2.dilate(live, _BODY),
                                                                    live, t, True)
        elif held is not None:
            if live is not None:
                # a still person's moving part is within reach of their anchor: what
                # moves beyond it (a visitor beside them, someone passing) is not them
                reach = cv2.dilate(track.anchor, _BODY)
                part = cv2.bitwise_and(live, reach)
                track.anchor = cv2.bitwise_or(track.anchor, cv2.dilate(part, _BODY))
                held = cv2.bitwise_or(held, part)
            track.mask, track.seen_t, track.moving = held, t, False
        elif t - track.seen_t > s.lost_after_s:
            self._tracks.remove(track)
            return
        track.box = cv2.boundingRect(track.mask)

    def _merge_duplicates(self) -> None:
        """Two tracks on one body: keep the older, and say so in ``merged``.

        A body's pieces move apart and back (legs and torso of someone standing up, a
        head split off by a bright wall), so one person can briefly be two tracks; two
        tracks are one body when their silhouettes overlap, or when, both moving, one
        is right above the other in the same column of the view (people walk side by
        side, not on top of each other)."""
        for a in list(self._tracks):
            for b in list(self._tracks):
                if a is b or a not in self._tracks or b not in self._tracks or a.id > b.id:
                    continue
                if not _one_body(a, b):
                    continue
                a.mask = cv2.bitwise_or(a.mask, b.mask)
                a.anchor = cv2.bitwise_or(a.anchor, b.anchor)
                a.box = cv2.boundingRect(a.mask)
                a.confirmed = a.confirmed or b.confirmed
                a.moving = a.moving or b.moving
                a.moved_t = max(a.moved_t, b.moved_t)
                self._tracks.remove(b)
                self.merged.append((a.id, b.id))

    def _learn(self, grey: np.ndarray, t: float) -> None:
        """Relearn the room everywhere except under (and just around) the people."""
        dt = max(t - self._previous_t, 1e-3)
        rate = min(1.0, dt / self.settings.background_time_s)
        room = None
        if self._tracks:
            people = self._tracks[0].mask
            for track in self._tracks[1:]:
                people = cv2.bitwise_or(people, track.mask)
            room = cv2.bitwise_not(cv2.dilate(people, _BODY, iterations=2))
        cv2.accumulateWeighted(grey, self._background, rate, mask=room)
        if cv2.countNonZero(self._unlearnt):
            # how long each pixel has been learnt from the room since the first frame
            cv2.add(self._learning, dt, dst=self._learning, mask=room)
            self._unlearnt[self._learning >= self.settings.background_time_s] = 0


#: A blob not yet confirmed as a person is dropped when nothing in it has moved for
#: this long (two or three frames): a ghost changes once, when the person leaves it.
TENTATIVE_STILL_S = 0.2
#: A moving piece near a person (not touching them) is one of their limbs only when it is
#: smaller than this share of them; a bigger one is somebody else.
LIMB_SHARE = 0.5
#: A component belongs to a person when this share of it lies inside their anchor.
SHARE_OF_PIECE = 0.2
#: Two tracks whose silhouettes share this much of the smaller one are one person ...
DUPLICATE = 0.6
#: ... as are two in one column (sharing this much of the narrower one's width), one
#: above the other with at most this much of a body height between them.
STACKED, STACKED_GAP = 0.5, 0.25


#: Ghost test (``_clear_ghosts``): static foreground of at least this share of
#: ``min_area``, with an outline of at least this many pixels along which the background
#: model has a mean gradient of at least this much (grey levels, 3x3 Sobel |dx| + |dy|:
#: the outline of something) and the frame under this share of it. Measured: ghosts of
#: people 0.54-0.68, people lying still after a fall 1.3-1.6.
GHOST_MIN_AREA, GHOST_MIN_OUTLINE, GHOST_MODEL_EDGE, GHOST_FRAME_SHARE = 0.5, 24, 40.0, 0.75


def _gradient(grey: np.ndarray) -> np.ndarray:
    """Grey-level gradient magnitude (3x3 Sobel, |dx| + |dy|, saturating at 255)."""
    dx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)
    return cv2.add(cv2.convertScaleAbs(dx), cv2.convertScaleAbs(dy))


def _one_body(a: _Track, b: _Track) -> bool:
    """Whether two tracks are one body: silhouettes that share most of the smaller one,
    or, both moving, one right above the other in the same column (a still person and
    someone passing behind or in front of them are two)."""
    ax, ay, aw, ah = a.box
    bx, by, bw, bh = b.box
    if not (a.moving and b.moving):
        if not overlaps(a.box, b.box):
            return False
        both = cv2.countNonZero(cv2.bitwise_and(a.mask, b.mask))
        return both >= DUPLICATE * min(cv2.countNonZero(a.mask), cv2.countNonZero(b.mask))
    across = min(ax + aw, bx + bw) - max(ax, bx)
    if across < STACKED * min(aw, bw):
        return False
    gap = max(ay, by) - min(ay + ah, by + bh)  # negative: they overlap vertically
    if gap > STACKED_GAP * max(ah, bh):
        return False
    if gap < 0 and overlaps(a.box, b.box):
        both = cv2.countNonZero(cv2.bitwise_and(a.anchor, b.mask))
        return both >= DUPLICATE * min(cv2.countNonZero(a.mask), cv2.countNonZero(b.mask)) \
            or max(ay, by) - min(ay, by) > STACKED * min(ah, bh)
    return True


def _component(labels: np.ndarray, i: int) -> np.ndarray:
    return (labels == i).view(np.uint8) * 255


def _union(pieces: list[np.ndarray], like: np.ndarray) -> np.ndarray | None:
    if not pieces:
        return None
    mask = pieces[0].copy()
    for piece in pieces[1:]:
        cv2.bitwise_or(mask, piece, dst=mask)
    return mask


def _surroundings(box: Sequence[int], grow: float = 0.5) -> tuple[int, int, int, int]:
    """Where a person's split limbs may be: half a box width either side, a quarter of
    its height above and below."""
    x, y, w, h = (int(v) for v in box)
    return (int(x - grow * w), int(y - grow * h / 2), int(w * (1 + 2 * grow)),
            int(h * (1 + grow)))


def _union_box(a: Sequence[int], b: Sequence[int]) -> tuple[int, int, int, int]:
    x, y = min(a[0], b[0]), min(a[1], b[1])
    return (int(x), int(y), int(max(a[0] + a[2], b[0] + b[2]) - x),
            int(max(a[1] + a[3], b[1] + b[3]) - y))


def _box_overlap(a: Sequence[int], b: Sequence[int]) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def _groups(components: list[int], stats: np.ndarray) -> list[list[int]]:
    """Unclaimed moving components grouped into bodies: each biggest one with the pieces
    in its surroundings (a person's limbs split off by the background)."""
    groups: list[list[int]] = []
    left = sorted(components, key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    while left:
        main = left.pop(0)
        around = _surroundings(stats[main, :4])
        group = [main] + [i for i in left if overlaps(stats[i, :4], around)]
        left = [i for i in left if i not in group]
        groups.append(group)
    return groups


def overlaps(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two ``(x, y, w, h)`` boxes share any area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
