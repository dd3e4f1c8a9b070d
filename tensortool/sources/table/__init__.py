"""Tables: CSV/TSV → features and target, with a fitted state for test data."""
