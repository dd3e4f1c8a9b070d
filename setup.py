"""Only the optional C extensions live here; everything else is in pyproject.toml."""

import sys

from setuptools import Extension, setup

FLAGS = [] if sys.platform == "win32" else ["-O3"]

# Both optional: without a C compiler the install still succeeds; stats then sums with numpy
# (exact, slower) and load-csv reads every file with pyarrow.
setup(ext_modules=[
    Extension("tensortool._pixelsums", ["tensortool/_pixelsums.c"], optional=True, extra_compile_args=FLAGS),
    Extension("tensortool.sources.table._numcsv", ["tensortool/sources/table/_numcsv.c"], optional=True, extra_compile_args=FLAGS),
])
