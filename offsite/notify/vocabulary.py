"""The channels an outbox message may go through and the states it may be in.

Apart from the models, with no import of its own, so that the command line's help can name them
without loading SQLAlchemy.
"""

CHANNELS = ("email", "webhook", "wecom", "dingtalk", "sms")
STATES = ("pending", "sent", "held", "failed")
"""``held``: over the person's daily cap, to be summed up in a digest instead of sent."""
