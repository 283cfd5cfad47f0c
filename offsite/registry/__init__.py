"""The base database of key units (一企一档): regions, units, outlets, devices, limits, contacts, cameras, meters."""
