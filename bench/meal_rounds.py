"""Meal rounds against OR-Tools: CareFleet's plan and the best OR-Tools plan found in a
fixed time, both replayed through CareFleet's own simulator.

Both solve the same problem: the same route times (CareFleet's planner, each robot at
its speed, from where it starts), the same loading time at the kitchen and pickup time
at each door (fixed here, 60 s and 40 s, so the replay is the plan and not the dice),
each robot's own tray count. OR-Tools' routing solver gets one vehicle per robot
with optional reloads at the kitchen; its objective is the one CareFleet's planner
minimises, latest delivery plus mean delivery (the time dimension's span weighted by
the room count, plus every room's arrival), plus the time spent on the road (a small
term; its local search needs arc costs). It may
mix floors in a trip; CareFleet never does. CareFleet's service is planned by the
orchestrator core at the slot, as on the ward; the OR-Tools plan is submitted as
pinned trips in its order at the slot.

Prints figures only. Needs the ``bench`` extra (``make bench`` installs it).
Run: .venv/bin/python bench/meal_rounds.py [SECONDS_PER_OR_TOOLS_SOLVE]
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

import carefleet.simulation.simulator as simulator
from carefleet.maps import DEMO_WARD, load_ward
from carefleet.maps.generate import corridor_ward
from carefleet.maps.model import PlaceKind, Ward
from carefleet.maps.routing import Planner
from carefleet.orchestrator.schedules import MealService
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec
from carefleet.simulation.scenario import Happening, Residents, Scenario
from carefleet.simulation.simulator import Simulation
from carefleet.tasks.meal import LOAD_SECONDS, PICKUP_EXPECTED

SCALE = 10                      # OR-Tools works in integers: tenths of a second
BATTERY = Battery(capacity_wh=2000.0)   # a meal round never waits for a charger here


@dataclass(frozen=True)
class Case:
    name: str
    ward: Ward
    rooms: list[str]
    trays: list[int]            # one robot per entry
    speed: float = 0.8


@dataclass(frozen=True)
class Outcome:
    makespan: float             # minutes after the slot, latest tray taken
    mean: float                 # minutes, mean over rooms
    distance: float             # km, whole fleet


def cases() -> list[Case]:
    demo = load_ward(DEMO_WARD)
    rooms = [p.id for p in demo.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    shuffled = rooms[:]
    random.Random(12).shuffle(shuffled)
    two_floors = [r for r in rooms if int(r[-2:]) <= 6]
    big = corridor_ward(104, floors=4, chargers=4)
    big_rooms = [p.id for p in big.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    big_shuffled = big_rooms[:]
    random.Random(104).shuffle(big_shuffled)
    return [
        Case("32 rooms, 3 robots x 4 trays", demo, rooms, [4, 4, 4]),
        Case("32 rooms, 2 robots x 4 trays", demo, rooms, [4, 4]),
        Case("12 rooms on two floors, 2 robots", demo, two_floors, [4, 4]),
        Case("104 rooms, 4 floors, 5 robots", big, big_rooms, [4] * 5),
        Case("32 rooms x 3 robots, shuffled list", demo, shuffled, [4, 4, 4]),
        Case("32 rooms, mixed trays 4/6/8", demo, shuffled, [4, 6, 8]),
        Case("104 rooms shuffled, trays 4/4/6/6/8", big, big_shuffled, [4, 4, 6, 6, 8]),
    ]


# == the simulator replay ====================================================
def scenario(case: Case, happenings: tuple[Happening, ...], meals: tuple[MealService, ...],
             slot: float) -> Scenario:
    places = case.ward.places
    starts = ["kitchen"] + sorted(p for p in places if places[p].kind is PlaceKind.CHARGER)
    robots = tuple(RobotSpec(id=f"tray_{i + 1}", start=starts[i % len(starts)],
                             profile=RobotProfile(model=f"T{trays}", speed=case.speed,
                                                  trays=trays, battery=BATTERY,
                                                  capabilities=frozenset({Capability.MEAL_DELIVERY})))
                   for i, trays in enumerate(case.trays))
    return Scenario(name=case.name, source="bench/meal_rounds.py", ward=case.ward,
                    ward_file=case.ward.source, seed=1, start=slot - 3600.0, end=slot + 4 * 3600.0,
                    robots=robots, schedules=meals, happenings=happenings, expectations=(),
                    residents=Residents(pickup_delay=(PICKUP_EXPECTED, PICKUP_EXPECTED),
                                        no_pickup_share=0.0))


def replay(play: Scenario) -> Outcome:
    simulation = Simulation(play)
    try:
        result = simulation.run()
    finally:
        simulation.close()
    latencies = [(at - task["due"]) / 60.0 for task in result.tasks
                 if task["kind"] == "meal_delivery"
                 for at in task["progress"]["delivered_at"].values()]
    return Outcome(max(latencies), sum(latencies) / len(latencies),
                   sum(r.distance_m for r in result.robots) / 1000.0)


# == OR-Tools ================================================================
def or_tools_plan(case: Case, robots: tuple[RobotSpec, ...], seconds: float) -> list[tuple[str, list[str]]]:
    """The best plan OR-Tools finds in ``seconds``: (robot, rooms in order) per trip.

    One vehicle per robot (capacity: its trays), starting at the kitchen when the robot
    could get there and ending at a dummy "finish" reached for free, so a vehicle's end
    is its last delivery; optional reload stops at the kitchen (OR-Tools' cvrp_reload
    idiom: demand minus the trays, slack up to them) start each further trip.
    """
    planner = Planner(case.ward)
    rooms = sorted(set(case.rooms))
    n, most = len(rooms), max(case.trays)
    reloads = math.ceil(n / min(case.trays)) + len(robots)
    kitchen_nodes = 2 + reloads              # 0 start, 1 finish, 2.. reloads, then rooms
    place = ["kitchen", None] + ["kitchen"] * reloads + rooms
    manager = pywrapcp.RoutingIndexManager(len(place), len(robots), [0] * len(robots),
                                           [1] * len(robots))
    routing = pywrapcp.RoutingModel(manager)

    def is_room(node: int) -> bool:
        return node >= kitchen_nodes

    callbacks = {}
    for speed in {r.profile.speed for r in robots}:
        rows = {p: planner.times_from(p, speed) for p in set(rooms) | {"kitchen"}}

        def transit(i: int, j: int, rows=rows) -> int:
            a, b = manager.IndexToNode(i), manager.IndexToNode(j)
            if a == 1 or b == 1:              # into the finish: free after the last pickup
                return round(PICKUP_EXPECTED * SCALE) if is_room(a) else 0
            service = (PICKUP_EXPECTED if is_room(a) else LOAD_SECONDS if is_room(b) else 0.0)
            return round((service + rows[place[a]][place[b]]) * SCALE)
        callbacks[speed] = routing.RegisterTransitCallback(transit)
    per_vehicle = [callbacks[r.profile.speed] for r in robots]
    routing.AddDimensionWithVehicleTransits(per_vehicle, 0, 10 ** 9, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for v, robot in enumerate(robots):
        ready = round(planner.travel_time(robot.start, "kitchen", robot.profile.speed) * SCALE)
        time_dim.CumulVar(routing.Start(v)).SetRange(ready, ready)
        routing.SetArcCostEvaluatorOfVehicle(per_vehicle[v], v)   # time on the road
    time_dim.SetGlobalSpanCostCoefficient(n)          # n x latest delivery
    for node in range(kitchen_nodes, len(place)):     # + every room's arrival
        time_dim.SetCumulVarSoftUpperBound(manager.NodeToIndex(node), 0, 1)

    def demand(i: int) -> int:
        node = manager.IndexToNode(i)
        return 1 if is_room(node) else -most if node >= 2 else 0
    routing.AddDimensionWithVehicleCapacity(routing.RegisterUnaryTransitCallback(demand), most,
                                            [r.profile.trays for r in robots], True, "trays")
    trays = routing.GetDimensionOrDie("trays")
    for node in range(2, len(place)):
        index = manager.NodeToIndex(node)
        if is_room(node):
            trays.SlackVar(index).SetValue(0)
        else:
            routing.AddDisjunction([index], 0)         # a reload is optional
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    # Its first-solution heuristics stall on the reloads' negative demand, so it starts
    # from a naive plan of its own: rooms by id, trips round-robin over the robots.
    routes: list[list[int]] = [[] for _ in robots]
    spare = iter(range(2, kitchen_nodes))
    node, k = kitchen_nodes, 0
    while node < len(place):
        trip = list(range(node, min(node + robots[k].profile.trays, len(place))))
        routes[k] += ([next(spare)] if routes[k] else []) + trip
        node, k = node + len(trip), (k + 1) % len(robots)
    start = routing.ReadAssignmentFromRoutes(
        [[manager.NodeToIndex(i) for i in route] for route in routes], True)
    solution = routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        raise RuntimeError(f"OR-Tools found no plan for {case.name}")
    plan = []
    for v, robot in enumerate(robots):
        index, trip = solution.Value(routing.NextVar(routing.Start(v))), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if is_room(node):
                trip.append(place[node])
            elif trip:
                plan.append((robot.id, trip))
                trip = []
            index = solution.Value(routing.NextVar(index))
        if trip:
            plan.append((robot.id, trip))
    return plan


def main(seconds: float = 20.0) -> None:
    simulator.LOAD_TIME = (LOAD_SECONDS, LOAD_SECONDS)   # the loading time both plans assume
    zone = ZoneInfo("Asia/Shanghai")
    slot = datetime(2026, 12, 1, 12, 0, tzinfo=zone).timestamp()
    print(f"meal rounds: CareFleet's plan against OR-Tools' best in {seconds:g} s "
          f"(both replayed in the simulator; minutes after the slot, km)")
    print(f"{'case':40} {'CareFleet':>22} {'OR-Tools':>22} {'ratio':>13}  plan s")
    print(f"{'':40} {'latest  mean    km':>22} {'latest  mean    km':>22} {'latest mean':>13}")
    worst = [0.0, 0.0]
    for case in cases():
        service = MealService(name="lunch", at=datetime.fromtimestamp(slot, zone).time(),
                              rooms=tuple(case.rooms))
        ours_play = scenario(case, (), (service,), slot)
        started = time.perf_counter()
        ours = replay(ours_play)
        ours_wall = time.perf_counter() - started
        plan = or_tools_plan(case, ours_play.robots, seconds)
        submits = tuple(Happening(at=slot, kind="submit", args={
            "by": "bench", "task": {"kind": "meal_delivery", "rooms": rooms, "meal": "lunch",
                                    "due": slot, "robot": robot}}) for robot, rooms in plan)
        theirs = replay(scenario(case, submits, (), slot))
        ratio = (ours.makespan / theirs.makespan, ours.mean / theirs.mean)
        worst = [max(worst[0], ratio[0]), max(worst[1], ratio[1])]
        print(f"{case.name:40} {ours.makespan:6.1f} {ours.mean:5.1f} {ours.distance:5.2f}     "
              f"{theirs.makespan:6.1f} {theirs.mean:5.1f} {theirs.distance:5.2f}     "
              f"{ratio[0]:5.2f} {ratio[1]:5.2f}  {ours_wall:5.2f}")
    print(f"worst ratio: latest {worst[0]:.3f} (target <= 1.05), mean {worst[1]:.3f} "
          f"(target <= 1.02); 'plan s' is the whole simulated replay of CareFleet's plan")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
