"""``offsite demo``: a whole province on one machine."""
