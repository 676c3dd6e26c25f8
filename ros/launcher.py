"""``carefleet launch FILE [name:=value ...]``: ROS 2 launch files in YAML, without ``launch``.

No wheel of ROS 2's ``launch`` exists, so this runs the subset CareFleet's own launch
files use, with the meaning ``ros2 launch`` gives it (the same files work there):

- tags ``arg`` (``name``, ``default``, ``description``), ``let`` (``name``, ``value``),
  ``node`` (``pkg``, ``exec``, ``name``, ``namespace``, ``output``, ``args``, ``param``,
  ``remap``), ``param`` inside a node (``name`` + ``value``, or ``from``: a parameter
  file), ``remap`` (``from``, ``to``), ``group`` (a list of children, or ``children`` with
  ``scoped``) and ``push_ros_namespace`` / ``push-ros-namespace`` (``namespace``) in a group;
- substitutions ``$(var NAME)``, ``$(env NAME [DEFAULT])``, ``$(find-pkg-share carefleet)``
  and ``$(dirname)``.

Any other tag, attribute or substitution is refused before anything starts, with one
line naming it and where it is. Each node is its own process (``carefleet`` nodes run
as ``python -m carefleet.ros.<node>``; another package's executable is looked up under
``lib/<pkg>/`` of ``AMENT_PREFIX_PATH``); their output is prefixed with the node's name.
SIGINT or SIGTERM is passed to every node, which then has ``stop_timeout`` seconds to
end (then SIGTERM, then SIGKILL). Exit code 0 when every node ended cleanly.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from carefleet.errors import InputError

#: ``exec`` names of the carefleet package and the modules that run them.
CAREFLEET_NODES = {
    "orchestrator_node": "carefleet.ros.orchestrator_node",
    "sim_robot_node": "carefleet.ros.sim_robot_node",
    "clock_node": "carefleet.ros.clock_node",
    "fall_node": "carefleet.ros.fall_node",
}
NODE_KEYS = {"pkg", "exec", "name", "namespace", "output", "args", "param", "remap"}
ROOT_KEYS = {"launch"}
_SUBST = re.compile(r"\$\(([^()]*)\)")


@dataclass
class NodeSpec:
    name: str
    command: list[str]
    where: str


@dataclass
class _Scope:
    vars: dict[str, str]
    namespace: str = ""
    args: dict[str, str] = field(default_factory=dict)   # from the command line


class Launcher:
    """Reads a launch file into the node commands it would run."""

    def __init__(self, path: str | Path, arguments: list[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(str(path), "no such launch file")
        self.given: dict[str, str] = {}
        for item in arguments:
            if ":=" not in item:
                raise InputError("launch arguments", f"'{item}' is not NAME:=VALUE",
                                 field=item)
            name, value = item.split(":=", 1)
            self.given[name] = value
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(str(path), f"not YAML: {exc}") from None
        if not isinstance(data, dict) or set(data) != ROOT_KEYS or \
                not isinstance(data["launch"], list):
            raise InputError(str(path), "a YAML launch file is a mapping with one key, "
                             "'launch', holding a list of tags", field="launch")
        self.nodes: list[NodeSpec] = []
        self.declared: set[str] = set()
        self._walk(data["launch"], _Scope(vars={}), "launch")
        unknown = set(self.given) - self.declared
        if unknown:
            raise InputError(str(path), f"no launch argument '{sorted(unknown)[0]}' "
                             f"(arguments: {', '.join(sorted(self.declared)) or 'none'})",
                             field=sorted(unknown)[0])

    def _error(self, where: str, message: str) -> InputError:
        return InputError(str(self.path), message, field=where)

    def _walk(self, entries: list[Any], scope: _Scope, where: str) -> None:
        for index, entry in enumerate(entries):
            here = f"{where}[{index}]"
            if not isinstance(entry, dict) or len(entry) != 1:
                raise self._error(here, "each entry is one tag, e.g. '- node: {...}'")
            (tag, body), = entry.items()
            if tag == "arg":
                self._arg(body, scope, f"{here}.arg")
            elif tag == "let":
                self._need(body, f"{here}.let", {"name", "value"}, {"name", "value"})
                scope.vars[str(body["name"])] = self._text(body["value"], scope, f"{here}.let")
            elif tag == "node":
                self._node(body, scope, f"{here}.node")
            elif tag == "group":
                self._group(body, scope, f"{here}.group")
            elif tag in ("push_ros_namespace", "push-ros-namespace"):
                self._need(body, f"{here}.{tag}", {"namespace"}, {"namespace"})
                scope.namespace = _join(scope.namespace,
                                        self._text(body["namespace"], scope, f"{here}.{tag}"))
            else:
                raise self._error(here, f"tag '{tag}' is not supported by carefleet launch "
                                  "(supported: arg, let, node, param, remap, group, "
                                  "push_ros_namespace); use ros2 launch for it")

    def _need(self, body: Any, where: str, allowed: set[str], required: set[str]) -> None:
        if not isinstance(body, dict):
            raise self._error(where, "expected a mapping of attributes")
        extra = set(body) - allowed
        if extra:
            raise self._error(f"{where}.{sorted(extra)[0]}",
                              f"attribute '{sorted(extra)[0]}' is not supported here "
                              f"(supported: {', '.join(sorted(allowed))})")
        missing = required - set(body)
        if missing:
            raise self._error(where, f"'{sorted(missing)[0]}' must be given")

    def _arg(self, body: Any, scope: _Scope, where: str) -> None:
        self._need(body, where, {"name", "default", "description"}, {"name"})
        name = str(body["name"])
        self.declared.add(name)
        if name in self.given:
            scope.vars[name] = self.given[name]
        elif "default" in body:
            scope.vars[name] = self._text(body["default"], scope, where)
        else:
            raise InputError(str(self.path), f"launch argument '{name}' has no default: give "
                             f"it as {name}:=VALUE", field=name)

    def _group(self, body: Any, scope: _Scope, where: str) -> None:
        scoped = True
        if isinstance(body, dict):
            self._need(body, where, {"children", "scoped"}, {"children"})
            scoped = bool(body.get("scoped", True))
            body = body["children"]
        if not isinstance(body, list):
            raise self._error(where, "a group holds a list of tags")
        inner = _Scope(vars=dict(scope.vars), namespace=scope.namespace) if scoped else scope
        self._walk(body, inner, where)

    def _node(self, body: Any, scope: _Scope, where: str) -> None:
        self._need(body, where, NODE_KEYS, {"pkg", "exec"})
        pkg = self._text(body["pkg"], scope, f"{where}.pkg")
        executable = self._text(body["exec"], scope, f"{where}.exec")
        command = self._executable(pkg, executable, f"{where}.exec")
        if "args" in body:
            command += shlex.split(self._text(body["args"], scope, f"{where}.args"))
        ros = ["--ros-args"]
        name = self._text(body["name"], scope, f"{where}.name") if "name" in body else executable
        if "name" in body:
            ros += ["-r", f"__node:={name}"]
        namespace = scope.namespace
        if "namespace" in body:
            namespace = _join(namespace, self._text(body["namespace"], scope, f"{where}.namespace"))
        if namespace:
            ros += ["-r", f"__ns:={namespace}"]
        for i, p in enumerate(body.get("param") or []):
            at = f"{where}.param[{i}]"
            if isinstance(p, dict) and "from" in p:
                self._need(p, at, {"from"}, {"from"})
                file = self._text(p["from"], scope, f"{at}.from")
                if not Path(file).is_file():
                    raise self._error(f"{at}.from", f"no parameter file '{file}'")
                ros += ["--params-file", file]
            else:
                self._need(p, at, {"name", "value"}, {"name", "value"})
                ros += ["-p", f"{self._text(p['name'], scope, at)}:="
                              f"{self._value(p['value'], scope, at)}"]
        for i, r in enumerate(body.get("remap") or []):
            at = f"{where}.remap[{i}]"
            self._need(r, at, {"from", "to"}, {"from", "to"})
            ros += ["-r", f"{self._text(r['from'], scope, at)}:={self._text(r['to'], scope, at)}"]
        label = _join(namespace, name).lstrip("/") or name
        self.nodes.append(NodeSpec(name=label, command=command + ros, where=where))

    def _executable(self, pkg: str, executable: str, where: str) -> list[str]:
        if pkg == "carefleet":
            if executable not in CAREFLEET_NODES:
                raise self._error(where, f"package carefleet has no executable '{executable}' "
                                  f"(it has {', '.join(sorted(CAREFLEET_NODES))})")
            return [sys.executable, "-m", CAREFLEET_NODES[executable]]
        for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
            candidate = Path(prefix) / "lib" / pkg / executable
            if prefix and os.access(candidate, os.X_OK):
                return [str(candidate)]
        raise self._error(where, f"package '{pkg}' (executable '{executable}') is not "
                          "installed here (looked under AMENT_PREFIX_PATH)")

    # -- substitutions ---------------------------------------------------------
    def _text(self, value: Any, scope: _Scope, where: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise self._error(where, f"expected a text, got {type(value).__name__}")
        return _SUBST.sub(lambda m: self._substitute(m.group(1), scope, where), str(value))

    def _value(self, value: Any, scope: _Scope, where: str) -> str:
        """A parameter value as ``-p`` takes it (YAML): lists and numbers kept typed."""
        if isinstance(value, list):
            return "[" + ", ".join(self._value(v, scope, where) for v in value) + "]"
        if isinstance(value, str):
            return self._text(value, scope, where)
        return self._text(value, scope, where)

    def _substitute(self, inner: str, scope: _Scope, where: str) -> str:
        parts = inner.split()
        if not parts:
            raise self._error(where, "empty substitution $()")
        kind, rest = parts[0], parts[1:]
        if kind == "var" and len(rest) == 1:
            if rest[0] not in scope.vars:
                raise self._error(where, f"$(var {rest[0]}): no such argument or let")
            return scope.vars[rest[0]]
        if kind == "env" and len(rest) in (1, 2):
            value = os.environ.get(rest[0], rest[1] if len(rest) == 2 else None)
            if value is None:
                raise self._error(where, f"$(env {rest[0]}): not set and no default")
            return value
        if kind == "find-pkg-share" and rest == ["carefleet"]:
            return str(share_dir())
        if kind == "dirname" and not rest:
            return str(self.path.resolve().parent)
        raise self._error(where, f"substitution $({inner}) is not supported by carefleet "
                          "launch (supported: var, env, find-pkg-share carefleet, dirname)")


def share_dir() -> Path:
    """Where carefleet's ``launch/`` folder is: the source tree, else ``share/carefleet``."""
    source = Path(__file__).resolve().parents[1]
    if (source / "launch").is_dir():
        return source
    installed = Path(sys.prefix) / "share" / "carefleet"
    return installed if installed.is_dir() else source


def _join(namespace: str, name: str) -> str:
    if name.startswith("/"):
        return name.rstrip("/")
    if not name:
        return namespace
    return f"{namespace.rstrip('/')}/{name}" if namespace else f"/{name}"


class _Running:
    def __init__(self, spec: NodeSpec, env: dict[str, str]) -> None:
        self.spec = spec
        self.popen = subprocess.Popen(spec.command, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True)
        self.reader = threading.Thread(target=self._copy, daemon=True)
        self.reader.start()
        print(f"[INFO] [launch]: process started: {spec.name} [pid {self.popen.pid}]",
              flush=True)

    def _copy(self) -> None:
        assert self.popen.stdout is not None
        for line in iter(self.popen.stdout.readline, b""):
            sys.stdout.write(f"[{self.spec.name}] {line.decode(errors='replace')}")
            sys.stdout.flush()


def launch(path: str | Path, arguments: list[str], *, dry_run: bool = False,
           stop_timeout: float = 10.0) -> int:
    """Run every node of the launch file until SIGINT/SIGTERM (or until all have ended)."""
    launcher = Launcher(path, arguments)
    if dry_run:
        for node in launcher.nodes:
            print(shlex.join(node.command))
        return 0
    if not launcher.nodes:
        raise InputError(str(path), "starts no node")
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        got.append(signum)
        stop.set()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    running = [_Running(spec, env) for spec in launcher.nodes]
    reported: set[int] = set()
    try:
        while not stop.wait(0.1):
            for r in running:
                code = r.popen.poll()
                if code is not None and r.popen.pid not in reported:
                    reported.add(r.popen.pid)
                    _ended(r, code)
            if len(reported) == len(running):
                break
    finally:
        sig = got[0] if got else signal.SIGINT
        for r in running:
            if r.popen.poll() is None:
                r.popen.send_signal(sig)
        deadline = time.monotonic() + stop_timeout
        for r in running:
            for escalate in (None, signal.SIGTERM, signal.SIGKILL):
                if escalate is not None and r.popen.poll() is None:
                    print(f"[WARNING] [launch]: {r.spec.name} still running: {escalate.name}",
                          flush=True)
                    r.popen.send_signal(escalate)
                    deadline = time.monotonic() + 5.0
                try:
                    r.popen.wait(max(deadline - time.monotonic(), 0.1))
                    break
                except subprocess.TimeoutExpired:
                    continue
            r.reader.join(timeout=2.0)
            if r.popen.pid not in reported:
                reported.add(r.popen.pid)
                _ended(r, r.popen.returncode)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if all(r.popen.returncode == 0 for r in running) else 1


def _ended(r: _Running, code: int | None) -> None:
    if code == 0:
        print(f"[INFO] [launch]: process has finished cleanly: {r.spec.name} "
              f"[pid {r.popen.pid}]", flush=True)
    else:
        print(f"[ERROR] [launch]: process has died: {r.spec.name} [pid {r.popen.pid}, "
              f"exit code {code}]", flush=True)
