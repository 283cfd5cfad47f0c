"""The states of a stored clue's review.

Apart from the models, with no import of its own, so that the command line's help can name them
without loading SQLAlchemy.
"""

STATES = ("new", "confirmed", "dismissed")
