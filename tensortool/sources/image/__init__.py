"""Images: files and ImageFolder trees → N×C×H×W tensors."""
