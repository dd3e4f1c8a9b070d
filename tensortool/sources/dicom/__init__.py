"""DICOM: series → volumes in physical units, sorted by geometry."""
