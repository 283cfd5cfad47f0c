"""The ingestion gateway: every monitoring device connects here over HJ 212 on TCP."""
