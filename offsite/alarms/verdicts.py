"""What an officer may find an alarm to have been (``offsite alarms verify --verdict``).

Apart from the models, with no import of its own, so that the command line's help can name them
without loading SQLAlchemy.
"""

VERDICTS = ("real_exceedance", "equipment_fault", "declared_outage", "false_alarm")
