"""The orchestrator node under a fleet's sensor load: 50 robots over loopback DDS.

One process plays 50 Nav2 robots (each under its own namespace, driving to and fro
along a corridor of the demo ward): ``odom`` at 10 Hz and ``battery_state`` at 1 Hz
each, 550 messages a second. The orchestrator node runs as its own process with a
50-robot fleet; this script counts the ``fleet_state`` messages it publishes and reads
both processes' CPU from /proc. Prints figures, asserts nothing (``make bench``).

    .venv/bin/python bench/ros_fleet.py [--robots 50] [--seconds 20] [--period 0.2]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 90 + 5))

import rclpy  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.signals import SignalHandlerOptions  # noqa: E402
from sensor_msgs.msg import BatteryState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from carefleet.ros.common import FLEET_STATE, QOS_LATEST, spin_in_thread  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def scenario(robots: int, folder: Path) -> Path:
    lines = ["name: ROS fleet bench", "ward: demo_ward", "duration: 24", "fleet:",
             "  profiles:", "    bot: {model: Bench, speed: 0.8, trays: 4, "
             "capabilities: [meal_delivery, patrol, camera]}", "  robots:"]
    lines += [f"    - {{id: r{i:02d}, profile: bot, start: kitchen}}" for i in range(robots)]
    path = folder / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--period", type=float, default=0.2,
                        help="the node's fleet_state_period (s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="carefleet-ros-bench-"))
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "carefleet.ros.orchestrator_node", "--ros-args",
         "-p", f"scenario:={scenario(args.robots, tmp)}", "-p", f"store:={tmp / 'tasks.db'}",
         "-p", f"fleet_state_period:={args.period}"],
        stdout=(tmp / "orchestrator.log").open("wb"), stderr=subprocess.STDOUT)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("carefleet_fleet_bench")
    odom = [node.create_publisher(Odometry, f"/r{i:02d}/odom", 10) for i in range(args.robots)]
    battery = [node.create_publisher(BatteryState, f"/r{i:02d}/battery_state", 10)
               for i in range(args.robots)]
    got: list[tuple[float, int]] = []
    node.create_subscription(String, FLEET_STATE,
                             lambda m: got.append((time.monotonic(), len(m.data))), QOS_LATEST)
    started = time.monotonic()
    sent = {"odom": 0, "battery": 0}

    def publish_odom() -> None:
        t = time.monotonic() - started
        for i, pub in enumerate(odom):
            msg = Odometry()
            msg.header.frame_id = "F1"
            msg.pose.pose.position.x = 20.0 + 15.0 * math.sin(0.05 * t + i)   # to and fro
            msg.pose.pose.position.y = 10.0
            msg.pose.pose.orientation.w = 1.0
            pub.publish(msg)
        sent["odom"] += len(odom)

    def publish_battery() -> None:
        t = time.monotonic() - started
        for i, pub in enumerate(battery):
            msg = BatteryState()
            msg.percentage = 0.9 - 0.001 * t - 0.002 * i
            battery[i].publish(msg)
        sent["battery"] += len(battery)
    node.create_timer(0.1, publish_odom)
    node.create_timer(1.0, publish_battery)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    spin_in_thread(executor)

    deadline = time.monotonic() + 60
    while not got:
        if time.monotonic() > deadline or orchestrator.poll() is not None:
            print((tmp / "orchestrator.log").read_text()[-2000:])
            raise SystemExit("the orchestrator node did not come up")
        time.sleep(0.1)
    time.sleep(3.0)                      # discovery settles: every robot matched
    got.clear()
    me, them = os.getpid(), orchestrator.pid
    cpu0, mine0, wall0 = cpu_seconds(them), cpu_seconds(me), time.monotonic()
    sent0 = dict(sent)
    time.sleep(args.seconds)
    cpu1, mine1, wall1 = cpu_seconds(them), cpu_seconds(me), time.monotonic()
    window = wall1 - wall0
    received = [size for at, size in got if wall0 <= at <= wall1]
    rate = (sent["odom"] - sent0["odom"] + sent["battery"] - sent0["battery"]) / window
    print(f"robots {args.robots}: odom 10 Hz + battery 1 Hz each = {rate:,.0f} msg/s in")
    print(f"orchestrator node CPU: {100 * (cpu1 - cpu0) / window:.1f} % of one core "
          f"(the 50 robots' publisher: {100 * (mine1 - mine0) / window:.1f} %)")
    if received:
        print(f"fleet_state: {len(received) / window:.1f} msg/s out "
              f"(period {args.period:g} s), {sum(received) / len(received) / 1024:.1f} KiB each, "
              f"{len(received) * args.robots / window:,.0f} robot states/s")
    else:
        print("fleet_state: none in the window")
    orchestrator.send_signal(2)
    orchestrator.wait(20)
    executor.shutdown(timeout_sec=2)
    node.destroy_node()
    rclpy.try_shutdown()
    print(f"orchestrator node exit code {orchestrator.returncode}")


if __name__ == "__main__":
    main()
