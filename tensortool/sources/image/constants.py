"""Image option values, free of torch so the command line can declare its options without it."""

MODES = ("rgb", "gray", "rgba", "unchanged")
DECODERS = ("auto", "torchcodec", "torchvision", "pillow")
# Pillow's default Image.MAX_IMAGE_PIXELS (about a 9459x9459 image), for every format.
DEFAULT_MAX_PIXELS = 89_478_485
