"""Load the ASan/UBSan builds of the C extensions (``fuzz/build_sanitized.sh``) in place of the normal ones.

Import this before anything from ``tensortool``: ``tensortool.sources.table._numcsv`` and ``tensortool._pixelsums``
are then the sanitized copies from ``build/sanitized/``. Exits with a message when those copies are
missing or the sanitizer runtime is not preloaded, so a campaign never runs unsanitized by mistake.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "sanitized" / "tensortool"
COMMAND = ('LD_PRELOAD="$(python -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so" '
           "ASAN_OPTIONS=detect_leaks=0,allocator_may_return_null=1 python " + " ".join(sys.argv))


def _fail(message: str) -> None:
    sys.exit(f"{message}\nbuild with: sh fuzz/build_sanitized.sh\nrun with:   {COMMAND}")


def load(*names: str) -> dict:
    """The sanitized modules, registered as ``tensortool.<name>`` before the package is imported
    (the harness checks that the package's modules really hold them)."""
    sys.path.insert(0, str(ROOT))  # the worktree's tensortool package, whatever is installed
    try:
        ctypes.CDLL(None).__asan_init
    except AttributeError:
        _fail("the AddressSanitizer runtime is not loaded (LD_PRELOAD atheris' asan_with_fuzzer.so)")
    origin = importlib.util.find_spec("tensortool").origin  # found, not imported: the harness imports it
    if Path(origin).resolve().parent != ROOT / "tensortool":
        _fail(f"tensortool would be imported from {origin}, not from {ROOT}")
    modules = {}
    for name in names:
        path = BUILD / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
        if not path.is_file():
            _fail(f"no sanitized build at {path}")
        if f"tensortool.{name}" in sys.modules:
            _fail(f"tensortool.{name} was imported before the sanitized build")
        spec = importlib.util.spec_from_file_location(f"tensortool.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[f"tensortool.{name}"] = module  # `from .. import _numcsv` finds it here
        # The object file must carry ASan instrumentation (not only the preloaded runtime).
        if b"__asan_report" not in path.read_bytes():
            _fail(f"{path} is not built with AddressSanitizer")
        modules[name] = module
    return modules


def seed_corpus(patterns: list[str], extra: list[Path] = ()) -> None:
    """Copy sample files into every empty corpus folder named on the command line."""
    import shutil

    folders = [Path(a) for a in sys.argv[1:] if not a.startswith("-")]
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            continue  # a crash file to replay
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            continue
        files = [p for pattern in patterns for p in sorted((ROOT / "samples").glob(pattern))] + list(extra)
        for i, path in enumerate(files):
            if path.is_file() and path.stat().st_size < 1_000_000:
                shutil.copyfile(path, folder / f"seed-{i}-{path.name}")
