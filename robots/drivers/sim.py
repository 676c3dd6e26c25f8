"""The simulated robot: just another driver, moving along planned routes in simulated time.

It drives routes at its profile's speed (lane limits, doors and lifts included),
drains its battery by distance and by time, charges when docked, and can be told to
fail (drive failure, stuck, battery dead, emergency stop) by a scenario. It never
reads the wall clock: the ``SimWorld`` it lives in gives it the time and runs its
timers, so a whole day plays in seconds and the same seed plays the same day.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol

from carefleet.maps.model import Route
from carefleet.maps.routing import NoRoute, Planner
from carefleet.orchestrator.events import CommandResult, DriverMode, Outcome, RobotStatus
from carefleet.robots.driver import Reply, Report, RobotDriver
from carefleet.robots.model import RobotSpec
from carefleet.simulation.result import RobotRecord, Segment


class SimWorld(Protocol):
    """What a simulated robot needs from the simulator around it."""

    now: float
    planner: Planner
    closed: frozenset[str]

    def schedule(self, at: float, action: Callable[[], None]) -> None: ...

    def action_time(self, robot_id: str, action: str, place: str,
                    params: dict[str, Any]) -> tuple[float, bool] | None: ...


class SimRobot(RobotDriver):
    """A simulated robot. Timers carry an ``epoch``; anything that changes the plan
    (a new command, a stop, a fault) bumps it, so stale timers do nothing."""

    def __init__(self, spec: RobotSpec, report: Report, world: SimWorld) -> None:
        super().__init__(spec.id, report)
        self.spec = spec
        self.profile = spec.profile
        self.world = world
        self.position = world.planner.waypoint_of(spec.start)
        self.energy = self.profile.battery.capacity_wh
        self.mode = DriverMode.READY
        self.error: str | None = None
        self.stuck_until = -math.inf
        self.record = RobotRecord(id=spec.id, model=self.profile.model)
        self.task_hint: str | None = None     # set by the simulator for the timeline
        self._epoch = 0
        self._command: str | None = None
        self._route: Route | None = None
        self._goal_place = ""
        self._route_start = 0.0
        self._activity = "idle"           # the timeline segment being recorded
        self._segment_task: str | None = None
        self._segment_place: str | None = None
        self._since = world.now
        self._settled = world.now

    # == the driver interface ==============================================
    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        if self.mode in (DriverMode.ERROR, DriverMode.EMERGENCY_STOP):
            return Reply.IMPOSSIBLE
        self._interrupt()
        self._command = command_id
        self._drive_to(waypoint, place)
        return Reply.ACCEPTED

    def stop(self, command_id: str) -> Reply:
        if command_id == self._command:
            self._interrupt()
            self._finish(command_id, Outcome.CANCELLED)
        return Reply.ACCEPTED

    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        if self.mode in (DriverMode.ERROR, DriverMode.EMERGENCY_STOP):
            return Reply.IMPOSSIBLE
        self._interrupt()
        self._command = command_id
        self._set_activity(action, place)
        timing = self.world.action_time(self.robot_id, action, place, params)
        if timing is not None:
            seconds, succeeded = timing
            self._after(seconds, lambda: self._finish(
                command_id, Outcome.SUCCEEDED if succeeded else Outcome.FAILED))
        return Reply.ACCEPTED

    def dock(self, command_id: str, place: str) -> Reply:
        if self.position != self.world.planner.waypoint_of(place):
            return Reply.IMPOSSIBLE
        self._interrupt()
        self._command = command_id
        self.mode = DriverMode.CHARGING
        self._set_activity("charging", place)
        self.report(CommandResult(robot_id=self.robot_id, command_id=command_id,
                                  outcome=Outcome.SUCCEEDED, position=self.position))
        self._schedule_charged()
        return Reply.ACCEPTED

    def status(self) -> RobotStatus:
        self._settle()
        return RobotStatus(robot_id=self.robot_id, position=self.position,
                           battery=round(max(self.energy, 0.0) / self.profile.battery.capacity_wh, 4),
                           mode=self.mode, error=self.error)

    # == scenario hooks (failures) =========================================
    def break_down(self, error: str) -> None:
        """A fault (drive failure, dead battery): stops where it is, reports ERROR."""
        self._interrupt()
        self._command = None
        self.mode, self.error = DriverMode.ERROR, error
        self._set_activity("fault", None)
        self.report(self.status())

    def repair(self) -> None:
        self.mode, self.error = DriverMode.READY, None
        self._set_activity("idle", None)
        self.report(self.status())

    def press_estop(self) -> None:
        self._interrupt()
        self._command = None
        self.mode = DriverMode.EMERGENCY_STOP
        self._set_activity("emergency_stop", None)
        self.report(self.status())

    def release_estop(self) -> None:
        self.repair()

    def get_stuck(self, seconds: float) -> None:
        """Blocked (a trolley in the corridor): a drive makes no progress for ``seconds``."""
        self.stuck_until = self.world.now + seconds
        if self._route is not None:
            self._replan()

    def set_battery(self, level: float) -> None:
        self._settle()
        self.energy = level * self.profile.battery.capacity_wh
        self.report(self.status())

    def passages_changed(self) -> None:
        """A corridor closed or opened: a robot on the road re-plans from where it is."""
        if self._route is not None:
            self._replan()

    def heartbeat(self) -> None:
        """Periodic status (battery); a flat battery becomes a fault here."""
        if self.energy <= 0 and self.mode is not DriverMode.ERROR:
            self.break_down("battery empty")
            return
        self.report(self.status())

    def close_record(self) -> RobotRecord:
        self._settle()
        self._set_activity(self._activity, None)
        self.record.final_battery = max(self.energy, 0.0) / self.profile.battery.capacity_wh
        return self.record

    def drive_left(self) -> tuple[float, float] | None:
        """(metres, seconds) left of the drive under way, None when not driving: what a
        Nav2 robot's NavigateToPose feedback says (distance and estimated time remaining)."""
        route = self._route
        if route is None:
            return None
        speed, elapsed = self.profile.speed, max(self.world.now - self._route_start, 0.0)
        metres = route.distance - _driven(route, elapsed, speed)
        return max(metres, 0.0), max(route.duration(speed) - elapsed, 0.0)

    # == driving ===========================================================
    def _drive_to(self, waypoint: str, place: str) -> None:
        try:
            route = self.world.planner.route(self.position, waypoint, closed=self.world.closed,
                                             speed=self.profile.speed)
        except NoRoute as exc:
            command, why = self._command, str(exc)
            self._after(0.0, lambda: self._finish(command, Outcome.FAILED, why))
            return
        self._route, self._route_start = route, self.world.now
        self._goal_place = place
        self.mode = DriverMode.BUSY
        self._set_activity("navigating", place)
        if self.world.now < self.stuck_until:
            self._after(self.stuck_until - self.world.now, self._replan)
            self._route_start = self.stuck_until
        self._after(self._route_start - self.world.now + route.duration(self.profile.speed),
                    self._arrive)
        battery = self.profile.battery
        watts = self.profile.speed * battery.drain_per_m_wh * 3600.0 + battery.drain_idle_w
        empty_in = max(self.energy, 0.0) / watts * 3600.0     # at full speed: the soonest
        if empty_in < self._route_start - self.world.now + route.duration(self.profile.speed):
            self._after(self._route_start - self.world.now + empty_in, self._run_flat)

    def _arrive(self) -> None:
        self._settle()
        self.position = self._route.end if self._route else self.position
        self._route = None
        self._finish(self._command, Outcome.SUCCEEDED)

    def _run_flat(self) -> None:
        """The battery is empty on the road: the robot stops dead where it is."""
        self._settle()
        if self.energy <= 0.0:
            self.energy = 0.0
            self.break_down("battery empty")
        elif self._route is not None:
            self._replan()                  # slower than full speed: look again later

    def _replan(self) -> None:
        """Re-plan the current drive from the last waypoint passed."""
        if self._route is None:
            return
        self._settle()
        goal, command, place = self._route.end, self._command, self._goal_place
        self._epoch += 1
        self._route = None
        self._command = command
        self._drive_to(goal, place)

    # == bookkeeping =======================================================
    def _after(self, seconds: float, action: Callable[[], None]) -> None:
        epoch = self._epoch

        def fire() -> None:
            if epoch == self._epoch:
                action()
        self.world.schedule(self.world.now + max(seconds, 0.0), fire)

    def _interrupt(self) -> None:
        """Cancel timers and stop driving where the robot is now."""
        self._settle()
        self._epoch += 1
        self._route = None
        if self.mode in (DriverMode.BUSY, DriverMode.CHARGING):
            self.mode = DriverMode.READY
        self._set_activity("idle", None)

    def _finish(self, command_id: str | None, outcome: Outcome, detail: str = "") -> None:
        if command_id is None or command_id != self._command:
            return
        self._command = None
        if self.mode is DriverMode.BUSY:
            self.mode = DriverMode.READY
        self._set_activity("idle", None)
        self.report(CommandResult(robot_id=self.robot_id, command_id=command_id, outcome=outcome,
                                  position=self.position, detail=detail))
        self.report(self.status())

    def _settle(self) -> None:
        """Bring position, battery and odometry up to ``world.now``."""
        now = self.world.now
        dt = now - self._settled
        if dt <= 0:
            return
        battery = self.profile.battery
        if self._route is not None and now > self._route_start:
            before = _driven(self._route, self._settled - self._route_start, self.profile.speed)
            after = _driven(self._route, now - self._route_start, self.profile.speed)
            metres = after - before
            self.record.distance_m += metres
            self._drain(metres * battery.drain_per_m_wh)
            self.position = self.world.planner.position_along(
                self._route, now - self._route_start, self.profile.speed)[3]
        if self.mode is DriverMode.CHARGING:
            gain = min(battery.charge_w * dt / 3600.0, battery.capacity_wh - self.energy)
            self.energy += gain
        else:
            self._drain(battery.drain_idle_w * dt / 3600.0)
        self._settled = now
        self.record.min_battery = min(self.record.min_battery,
                                      max(self.energy, 0.0) / battery.capacity_wh)

    def _drain(self, wh: float) -> None:
        """Use energy; a battery cannot give more than it holds."""
        wh = min(wh, max(self.energy, 0.0))
        self.energy -= wh
        self.record.energy_wh += wh

    def _schedule_charged(self) -> None:
        """Report as soon as the battery reaches its 'charged' level; from then on the
        robot only sits on the dock (shown as idle: topping up is not work)."""
        battery = self.profile.battery
        missing = battery.charged * battery.capacity_wh - self.energy

        def charged() -> None:
            self._set_activity("idle", self._segment_place)
            self.heartbeat()
        self._after(max(missing, 0.0) / battery.charge_w * 3600.0 + 1.0, charged)

    def _set_activity(self, activity: str, place: str | None) -> None:
        now = self.world.now
        if now > self._since:
            self.record.segments.append(Segment(start=self._since, end=now, activity=self._activity,
                                                task_id=self._segment_task, place=self._segment_place))
        self._activity, self._since = activity, now
        working = activity not in ("idle", "fault", "emergency_stop", "offline")
        self._segment_task = self.task_hint if working else None
        self._segment_place = place


def _driven(route: Route, elapsed: float, speed: float) -> float:
    """Metres covered ``elapsed`` seconds into ``route`` (doors and lifts take time, not metres)."""
    covered, clock = 0.0, 0.0
    for leg in route.legs:
        duration = leg.duration(speed)
        if clock + duration <= elapsed:
            covered += leg.length
            clock += duration
            continue
        moving = max(elapsed - clock - leg.fixed_time, 0.0)
        if leg.length and duration > leg.fixed_time:
            covered += leg.length * min(moving / (duration - leg.fixed_time), 1.0)
        break
    return covered
