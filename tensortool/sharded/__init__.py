"""Datasets bigger than memory: a folder of atomically written shard files plus a JSON manifest
of the finished ones, verified on resume, refusing a run with different options."""
