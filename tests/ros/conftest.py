"""Fixtures of the ROS 2 tests; the helpers (and the per-run domain id) are in ros_helpers."""

from __future__ import annotations

from typing import Any

import pytest

from ros_helpers import Client


@pytest.fixture(scope="session")
def client() -> Any:
    pytest.importorskip("rclpy")
    c = Client()
    yield c
    c.close()
    c.rclpy.try_shutdown()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "speed(factor): how much faster than real time the "
                            "ward's /clock runs in this test")
    config.addinivalue_line("markers", "ward(driver={...}, sim={...}): the Nav2 driver's "
                            "settings and the simulated robots' parameters in this test")
