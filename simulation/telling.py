"""What a played scenario's timeline says, in the reader's language.

Every runtime that plays a scenario (``carefleet sim``, ``carefleet ros sim``) marks the
same happenings on the robots' timeline with the same words; ``Teller`` is those words
(the report book, ``carefleet/strings/report``), so the two cannot drift apart and a
Chinese report reads Chinese. Each method returns ``(marker kind, text)``.
"""

from __future__ import annotations

from typing import Any

from carefleet.maps.model import Ward
from carefleet.messages import DEFAULT_LANGUAGE, catalogue, render

Marker = tuple[str, str]


class Teller:
    """The timeline's words for one ward in one language."""

    def __init__(self, ward: Ward, language: str = DEFAULT_LANGUAGE) -> None:
        catalogue(language, "report")          # refuse an unknown language up front
        self.ward, self.language = ward, language

    def _say(self, key: str, **params: Any) -> str:
        return render(key, params, self.language, "report")

    def place(self, place: str) -> str:
        return self.ward.places[place].label

    def happening(self, kind: str, args: dict[str, Any]) -> Marker | None:
        """The marker a scripted happening starts with (None: it shows its own later,
        like a fall, or nothing, like a submit)."""
        robot = args.get("robot")
        if kind == "call_button":
            return "call", self._say("happening.call", place=self.place(args["room"]))
        if kind == "robot_fault":
            return "fault", self._say("happening.fault", robot=robot,
                                      error=args.get("error", "drive failure"))
        if kind == "robot_stuck":
            return "fault", self._say("happening.stuck", robot=robot)
        if kind == "battery":
            return "battery", self._say("happening.battery", robot=robot,
                                        level=f"{args['level']:.0%}")
        if kind == "estop":
            return "fault", self._say("happening.estop", robot=robot)
        if kind.startswith("device"):
            return "device", self._device(kind, args)
        return None

    def _device(self, kind: str, args: dict[str, Any]) -> str:
        device = args["device"]
        if kind == "device":
            return self._say("happening.device", device=device, event=args["event"])
        if kind == "device_spoof":
            return self._say("happening.device_spoof", how=args["how"], event=args["event"],
                             device=device)
        if kind == "device_battery":
            return self._say("happening.device_battery", device=device,
                             level=f"{args['level']:.0%}")
        return self._say(f"happening.{kind}", device=device)

    def scene(self, room: str, scene: str) -> Marker:
        """A resident falls or moves in ``room``."""
        return ("fall" if scene == "fall" else "activity",
                self._say("happening.scene", scene=self._say(f"scene.{scene}"),
                          place=self.place(room)))

    def missed(self, camera: str, room: str) -> Marker:
        return "missed", self._say("happening.missed", camera=camera, place=self.place(room))

    def alarm(self, camera: str, confidence: float) -> Marker:
        return "camera", self._say("happening.camera", camera=camera,
                                   confidence=f"{confidence:.0%}")

    def passage(self, what: str, closed: bool) -> Marker:
        return "closure", self._say("happening.closed" if closed else "happening.open",
                                    what=what)

    def restart(self) -> Marker:
        return "restart", self._say("happening.restart")
