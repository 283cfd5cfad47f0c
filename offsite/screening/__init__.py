"""The screening engine: a numbered rule catalogue (R01–R19) over devices' series, whose hits are
joined into clues (问题线索) that carry their evidence."""
