"""Measurements, device reports, and the raw-packet archive every value points back to."""
