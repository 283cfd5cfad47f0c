"""Offsite: off-site supervision and enforcement for pollution-source automatic monitoring."""

__version__ = "0.1.0"
