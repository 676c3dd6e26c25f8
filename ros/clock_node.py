"""``/clock`` faster than real time: the simulated ward's time for every ``use_sim_time`` node.

Publishes ``rosgraph_msgs/Clock`` at ``rate`` Hz of wall time; simulated time starts at
``start`` (epoch seconds; default: now) and runs ``speed`` times faster than the wall.
``SimClock`` is the same clock inside another process (``carefleet ros sim``'s player),
which may also hold it (``paused``) until every node is up.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rclpy.executors import SingleThreadedExecutor
from rosgraph_msgs.msg import Clock
from rclpy.qos import QoSProfile

from carefleet.ros.common import new_node, param, spin_until_signal, start_ros, wall_timer


class SimClock:
    """Simulated time on ``node``'s ``/clock`` publisher."""

    def __init__(self, node: Any, *, speed: float, start: float, rate: float = 100.0,
                 paused: bool = False) -> None:
        if not speed > 0 or not rate > 0:
            raise ValueError("speed and rate must be positive")
        self.speed = speed
        self._t = start
        self._wall = time.monotonic()
        self.paused = paused
        self.pub = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))
        self.timer = wall_timer(node, 1.0 / rate, self.tick)

    def now(self) -> float:
        if self.paused:
            return self._t
        return self._t + (time.monotonic() - self._wall) * self.speed

    def pause(self) -> None:
        self._t, self.paused = self.now(), True

    def resume(self) -> None:
        self._wall, self.paused = time.monotonic(), False

    def tick(self) -> None:
        t = self.now()
        msg = Clock()
        msg.clock.sec = int(t)
        msg.clock.nanosec = int((t - int(t)) * 1e9)
        self.pub.publish(msg)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    start_ros(argv)
    node = new_node("carefleet_clock")
    SimClock(node, speed=float(param(node, "speed", 1.0)),
             start=float(param(node, "start", time.time())),
             rate=float(param(node, "rate", 100.0)))
    return spin_until_signal([node], executor=SingleThreadedExecutor())


if __name__ == "__main__":
    sys.exit(main())
