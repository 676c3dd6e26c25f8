"""``carefleet ros ...`` and ``carefleet launch``: the ROS 2 runtime's commands.

rclpy is imported inside the commands only, so ``carefleet`` works (and lists these
commands) where the ``ros`` extra is not installed; running one then says what to
install.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from typing import Any

from carefleet.errors import InputError

#: ``carefleet ros run NAME``: the CareFleet nodes (also ``ros2 run carefleet NAME``).
NODES = {
    "orchestrator_node": "carefleet.ros.orchestrator_node",
    "sim_robot_node": "carefleet.ros.sim_robot_node",
    "clock_node": "carefleet.ros.clock_node",
    "fall_node": "carefleet.ros.fall_node",
}


def _need_rclpy() -> None:
    try:
        import rclpy  # noqa: F401
    except ImportError:
        raise InputError("rclpy", "is not installed: pip install -e '.[ros]' (ROS 2 Kilted "
                         "wheels, see README, 'ROS 2')") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    ros = subparsers.add_parser("ros", help="the ROS 2 runtime (rclpy): simulated ward, nodes",
                                description="CareFleet over ROS 2 (see README, 'ROS 2').")
    commands = ros.add_subparsers(dest="ros_command", metavar="COMMAND", required=True)
    sim = commands.add_parser(
        "sim", help="play a scenario with every robot its own ROS node process",
        description="Play a scenario over ROS 2: the orchestrator node and one simulated "
                    "Nav2 robot node per robot as separate processes, /clock SPEED times "
                    "faster than real time; prints the KPIs and verdicts of `carefleet sim`.")
    sim.add_argument("scenario", help="scenario YAML file")
    sim.add_argument("--speed", type=float, default=100.0,
                     help="simulated seconds per wall second (default 100)")
    sim.add_argument("--json", metavar="FILE", help="write the figures and outcomes as JSON")
    sim.add_argument("--db", metavar="FILE", help="keep the task store here")
    sim.add_argument("--logs", metavar="DIR", help="keep every node's log (and the store) here")
    sim.add_argument("--seed", type=int, help="override the scenario's random seed")
    sim.add_argument("--quiet", action="store_true", help="no progress lines")
    sim.set_defaults(func=run_sim)
    run = commands.add_parser("run", help="run one CareFleet node (as `ros2 run carefleet`)",
                              description="Run a CareFleet node; arguments after the name "
                              "(--ros-args ...) go to the node.")
    run.add_argument("node", choices=sorted(NODES))
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(func=run_node)
    launch = subparsers.add_parser(
        "launch", help="run a ROS 2 launch YAML file (each node its own process)",
        description="Run a ROS 2 launch file in YAML (node, arg, let, param, remap, "
                    "namespace, group) without the ROS launch package; Ctrl-C stops "
                    "every node.")
    launch.add_argument("file", help="launch file (e.g. launch/ward_sim.launch.yaml)")
    launch.add_argument("arguments", nargs=argparse.REMAINDER, metavar="NAME:=VALUE",
                        help="launch arguments; --print: print the node commands instead "
                             "of running them")
    launch.set_defaults(func=run_launch)


def run_node(args: argparse.Namespace) -> int:
    _need_rclpy()
    import importlib
    module = importlib.import_module(NODES[args.node])
    return int(module.main([args.node, *args.args]) or 0)


def run_launch(args: argparse.Namespace) -> int:
    from carefleet.ros.launcher import launch
    arguments = [a for a in args.arguments if a != "--print"]
    return launch(args.file, arguments, dry_run=len(arguments) < len(args.arguments))


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def run_sim(args: argparse.Namespace) -> int:
    _need_rclpy()
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from carefleet.simulation.cli import ProgressBar, judge
    from carefleet.simulation.scenario import load_scenario

    from carefleet.ros.scenario_player import Player
    scenario = load_scenario(args.scenario)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if not args.speed > 0:
        raise InputError("--speed", f"{args.speed:g} is not a positive number")
    if scenario.devices is not None:
        raise InputError(scenario.source, "devices: ward devices are played by carefleet sim "
                         "only (the ROS 2 player has no device runtime yet)", field="devices")
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)        # stop the node processes on SIGTERM too
    bar = None if args.quiet else ProgressBar(sys.stderr, scenario.name)
    player = Player(scenario, speed=args.speed, db=args.db, work_dir=args.logs, progress=bar)
    try:
        result = player.run()
    finally:
        player.close()
        rclpy.try_shutdown()
    if bar:
        bar.done(result.wall_seconds, result.end - result.start)
    return judge(scenario, result, report=None, json_file=args.json,
                 how=f" (ROS 2, {args.speed:g}x)")


__all__ = ["register", "NODES"]
