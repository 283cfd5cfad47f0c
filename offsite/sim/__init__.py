"""The device simulator: virtual data loggers that are real TCP clients of the gateway.

A client only: it speaks HJ 212 and never imports the server side.
"""
