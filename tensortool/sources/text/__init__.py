"""Text → padded token indices with a vocabulary."""
