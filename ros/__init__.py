"""The ROS 2 runtime (rclpy): the orchestrator as a node, Nav2 robots with no code.

Everything that imports ``rclpy`` lives in this package (a test checks it). Modules:
``orchestrator_node`` (the host inside an rclpy node, the JSON task API), ``nav2_driver``
(a ``RobotDriver`` for a robot running Nav2), ``sim_robot_node`` (a simulated robot behind
exactly that Nav2 surface), ``clock_node`` (``/clock`` faster than real time),
``fall_node`` (camera images -> falls), ``scenario_player`` (``carefleet ros sim``),
``launcher`` (``carefleet launch``: ROS 2 launch YAML without the ``launch`` package) and
``cli`` (the commands). See README, "ROS 2".
"""
