"""Builds the optional C accelerator of the HJ 212 decoder (offsite/hj212/_speedups.c).

Everything else is in pyproject.toml. Without a C compiler the build goes on and the decoder
uses its pure-Python path (set OFFSITE_REQUIRE_SPEEDUPS=1 to make a missing accelerator fail).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("offsite.hj212._speedups", ["offsite/hj212/_speedups.c"], optional=True, extra_compile_args=["-O2"])
    ]
)
