"""ROS parameters generated from the config dataclasses' ``option()`` fields (mveq_core.settings):
names, defaults, descriptions and types come from the fields, never written again in a node."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor, ParameterType

from mveq_core.settings import Exposed, exposed

ROS_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER, float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}


def declare_settings(node, config) -> list[Exposed]:
    """Declares on ``node`` a parameter for every ROS-exposed field of ``config`` (a None default
    is declared as 0, which the dataclasses read as "none"); returns those fields."""
    fields = [e for e in exposed(config) if e.ros]
    for e in fields:
        node.declare_parameter(e.ros, e.default if e.default is not None else 0, ParameterDescriptor(description=e.help, type=ROS_TYPES[e.kind]))
    return fields
