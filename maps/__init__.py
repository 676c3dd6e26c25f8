"""Ward maps: the YAML format, its loader/validator, route planning and drawing.

``render`` (matplotlib) is not imported here so that the orchestrator core can use
maps without paying for it: ``from carefleet.maps.render import render_ward``.
"""

from pathlib import Path

from carefleet.maps.loader import check_ward, load_ward
from carefleet.maps.model import (Floor, Lane, Leg, Lift, OccupancyGrid, Place, PlaceKind, Route,
                                  Ward, Waypoint)
from carefleet.maps.routing import REFERENCE_SPEED, NoRoute, Planner, UnknownPlace

#: Folder of the bundled example wards (``demo_ward.yaml``).
WARDS_DIR = Path(__file__).resolve().parent / "wards"
DEMO_WARD = WARDS_DIR / "demo_ward.yaml"

__all__ = ["DEMO_WARD", "WARDS_DIR", "REFERENCE_SPEED", "Floor", "Lane", "Leg", "Lift",
           "NoRoute", "OccupancyGrid", "Place", "PlaceKind", "Planner", "Route", "UnknownPlace",
           "Ward", "Waypoint", "check_ward", "load_ward"]
