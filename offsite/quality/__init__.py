"""Valid data: minute → hour → day, reference-O2 correction, flags and validity."""
