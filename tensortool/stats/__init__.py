"""`tensortool stats`: exact, streaming, mergeable per-channel mean/std of a dataset."""
