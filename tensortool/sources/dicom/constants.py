"""DICOM option values, free of torch so the command line can declare its options without it."""

VOLUME_LAYOUTS = ("ncdhw", "cdhw", "ndhw", "dhw")
VOLUME_DTYPE_NAMES = ("float32", "float16", "bfloat16", "float64")
