"""Regenerate samples/dicom/ct: a SYNTHETIC CT series (a phantom, no patient data), fixed seed.

16 axial slices of 64×64, int16 stored values with RescaleIntercept -1024 (so values are in
Hounsfield units after rescale), 0.7 mm pixels, 2.5 mm slices, shuffled file names and
InstanceNumber counting down from the top, as many scanners write them.

    python samples/make_dicom.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the shared synthetic-series writer

from dicom_writer import phantom, write_series  # noqa: E402

if __name__ == "__main__":
    out = HERE / "dicom" / "ct"
    shutil.rmtree(out, ignore_errors=True)
    write_series(out, phantom(16, 64, 64, seed=7), instance_descending=True, seed=7,
                 series_uid="2.25.1000000000000000000000000000000001", study_uid="2.25.1000000000000000000000000000000002",
                 frame_of_reference="2.25.1000000000000000000000000000000003", description="synthetic phantom CT")
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
