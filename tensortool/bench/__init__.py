"""`tensortool bench`: matmul, bmm and einsum timed as experts time them."""
