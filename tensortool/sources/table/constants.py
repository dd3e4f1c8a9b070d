"""Table option values, free of torch so the command line can declare its options without it."""

FEATURE_DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16")
MISSING = ("error", "drop", "mean", "median", "zero")
NORMALIZE = ("none", "zscore", "minmax")
