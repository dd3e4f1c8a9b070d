"""Only the optional C extension lives here; everything else is in pyproject.toml."""

import sys

from setuptools import Extension, setup

setup(ext_modules=[
    # optional: without a C compiler the install still succeeds and stats uses numpy (exact, slower)
    Extension("tensortool._pixelsums", ["tensortool/_pixelsums.c"], optional=True,
              extra_compile_args=[] if sys.platform == "win32" else ["-O3"]),
])
