"""Bench option values, free of torch so the command line can declare its options without it."""

OPS = ("matmul", "bmm", "einsum", "all")
DTYPES = ("float32", "tf32", "float16", "bfloat16", "float64")
