"""Exceedance alarms: daily exceedances, 30-day grading, lifecycle and routing."""
