"""Scheduled work shared by ``offsite worker`` and ``offsite demo``."""
