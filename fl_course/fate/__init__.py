"""A real FATE Flow 2.2 service for the course, and helpers to run FATE jobs on it.

``python -m fl_course.fate up | status | down`` on the command line; in a notebook:

>>> from fl_course.fate import ensure_service
>>> ensure_service()  # doctest: +SKIP
"""

from fl_course.fate.service import (
    FateServiceError,
    ServiceInfo,
    down,
    ensure_service,
    fate_home,
    status,
    up,
)

__all__ = ["FateServiceError", "ServiceInfo", "down", "ensure_service", "fate_home", "status", "up"]
