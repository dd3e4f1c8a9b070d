"""Text option values, free of torch so the command line can declare its options without it."""

LEVELS = ("char", "word")
UNITS = ("file", "line", "paragraph")
CHARSETS = ("ascii", "corpus")
DEFAULT_MAX_BYTES = 1 << 30
# Each token held while reading costs up to ~60 bytes of Python objects: 2^24 of them ≈ 1 GB.
DEFAULT_MAX_TOKENS = 1 << 24
