"""Shaping option values, free of torch so the command line can declare its options without it."""

LAYOUTS = ("nchw", "nhwc", "chw", "hwc")
DTYPE_NAMES = ("float32", "float16", "bfloat16", "float64", "uint8")
