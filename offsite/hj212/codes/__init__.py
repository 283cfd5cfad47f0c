"""HJ 212 code tables: factors, commands, system codes, return codes and data flags."""
