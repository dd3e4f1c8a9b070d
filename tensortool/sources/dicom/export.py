"""Every volume series of a DICOM tree into its own .safetensors file, with a manifest; resumable.

Each series is a pure task: the same files and options give the same bytes, written atomically
(temporary file, then rename). The driver records each finished series in ``manifest.json``
(atomically, after each one), so a killed run, run again with the same options, checks the
finished files (size and SHA-256), keeps them and converts the rest. A series that fails is
recorded with its error and the others go on; localizers are recorded as skipped.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ...engine import Engine, engine_of
from ...errors import OptionError, TensortoolError, q
from ...safetensors_file import read_header
from ...sharded.manifest import ShardRecord
from ...sharded.writer import ShardFolder, is_intact, write_tensors
from .grouping import Series
from .load import _bundle, check_volume_options, load_series, scan_series
from .naming import DEFAULT_NAME_TEMPLATE, check_template, check_unique, series_name, uid_hash

KIND = "dicom-series"
ENGINES = ("threads", "processes", "ray")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SeriesTask:
    """One series to convert: its slices, its output file and the options that decide its bytes."""

    folder: str
    name: str
    series: Series
    listing: str  # SHA-256 of the series' file paths and sizes: a finished file is kept only for the same files
    options: dict[str, Any]  # load_series' keyword arguments


@dataclass
class ExportResult:
    """What a tree export did. ``series`` has one entry per series found (see the manifest);
    ``failed`` the entries of the series that could not be converted, ``unreadable`` the files
    whose header could not be read; ``resumed`` counts the files kept from an earlier run."""

    folder: str
    manifest: dict[str, Any]
    series: list[dict[str, Any]]
    converted: int
    resumed: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    errors: dict[int, TensortoolError] = field(default_factory=dict)  # series index -> its error

    @property
    def ok(self) -> bool:
        """Every volume series converted (and, unless skipped on purpose, every file readable)."""
        return not self.failed and not self.unreadable


def _listing(s: Series) -> str:
    parts = []
    for path in sorted({x.path for x in s.slices}):
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        parts.append(f"{path}\0{size}")
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _entry(s: Series, status: str, **extra: Any) -> dict[str, Any]:
    """A series as the manifest lists it: no patient identifiers."""
    first = s.first
    return {"index": s.index, "series_uid": s.uid, "modality": first.modality, "series_number": first.series_number,
            "status": status, **extra}


def plan_export(series: list[Series], folder: str | Path, template: str,
                options: dict[str, Any]) -> tuple[list[SeriesTask], list[dict[str, Any]]]:
    """(a task per volume candidate, manifest entries of the localizers, skipped)."""
    groups: dict[str, int] = {}
    names: dict[int, str] = {}
    tasks, skipped = [], []
    for s in series:
        if s.localizer is not None:
            skipped.append(_entry(s, "skipped", reason=f"localizer: {s.localizer}", files=len(s.slices)))
            continue
        group = groups.get(s.uid, 0)
        groups[s.uid] = group + 1
        names[s.index] = series_name(template, {"modality": s.first.modality, "series_number": s.first.series_number,
                                                "uid_hash": uid_hash(s.uid, group), "index": s.index})
        tasks.append(SeriesTask(str(folder), names[s.index], s, _listing(s), options))
    check_unique(names, template)
    return tasks, skipped


def convert_series(task: SeriesTask) -> dict[str, Any]:
    """Load one series and write its file atomically; the manifest entry (with a ``record`` for a
    written file), or a failed entry with the error. Runs in a worker thread or process."""
    s = task.series
    try:
        volume, meta = load_series(s, **task.options)
        bundle = _bundle({"volume": volume}, [meta], [], {"not_dicom": 0, "skipped": []},
                         layout=task.options["layout"], all_series=False, skip_bad=task.options["skip_bad"], tried=1)
        size, sha = write_tensors(Path(task.folder) / task.name, bundle.tensors, bundle.meta)
    except TensortoolError as exc:
        return {**_entry(s, "failed", file=None, files=len({x.path for x in s.slices})), "error": str(exc),
                "raw_error": (type(exc).__name__, exc.message, exc.path, exc.hint, exc.param)}
    m = bundle.meta
    entry = _entry(s, "converted", file=task.name, shape=list(volume.shape), dtype=m["dtype"],
                   spacing_mm=m["spacing_mm"], files=len(m["files"]), warnings=m["warnings"])
    # count: rows along the first axis (a volume for ncdhw and ndhw, a slice for dhw), as open_shards reads them
    record = ShardRecord(task.name, s.index, len(volume), size, sha, list(m["skipped"]),
                         {"listing_sha256": task.listing})
    return {**entry, "record": record}


def _results(tasks: list[SeriesTask], workers: int, engine: str) -> Iterator[dict[str, Any]]:
    """Each task's result as it finishes: in this thread with one worker, else in a pool."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(convert_series, tasks)
        return
    pool: Executor = (ThreadPoolExecutor(workers) if engine == "threads"
                      else ProcessPoolExecutor(workers, initializer=_one_thread))
    with pool:
        futures = [pool.submit(convert_series, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _one_thread() -> None:
    """A worker process converts one series at a time with one torch thread: the parallelism is the
    series, and a forked child must not use the intra-op pool its parent may have started."""
    import torch

    torch.set_num_threads(1)


def convert_dicom_tree(tree: str | os.PathLike | Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                       name_template: str = DEFAULT_NAME_TEMPLATE, order: str = "position", dtype: str | None = None,
                       raw: bool = False, window: str | tuple[float, float] | None = None, layout: str = "ncdhw",
                       strict: bool = False, skip_bad: bool = False, split_duplicates: bool = False,
                       workers: int | None = None, engine: str | Engine = "threads", force: bool = False,
                       progress: Progress | None = None) -> ExportResult:
    """Convert every volume series under ``tree`` into its own .safetensors file in ``out_dir``.

    Takes :func:`load_dicom`'s volume options. File names come from ``name_template`` (fields:
    modality, series_number, uid_hash, index; no patient identifiers). ``out_dir/manifest.json``
    lists every series (converted, failed with its error, or skipped as a localizer), the
    options and the tensortool version. Run again with the same options, finished files are
    checked and kept; other options are refused; ``force`` starts afresh. ``workers`` series
    are converted at once (default: the cores, up to 4), in threads (``engine="threads"``, the
    default: measured faster here, see benchmarks/bench_dicom_export.py) or processes;
    ``engine="ray"`` (or a ``RayEngine``) converts one series per task on a Ray cluster instead,
    writing the same bytes.

    >>> result = convert_dicom_tree("export/", "volumes/")  # doctest: +SKIP
    >>> [(s["file"], s["shape"]) for s in result.series if s["status"] == "converted"]  # doctest: +SKIP
    [('CT_0002_5d41402abc.safetensors', [1, 1, 120, 512, 512])]
    """
    check_template(name_template)
    if isinstance(engine, str) and engine not in ENGINES:
        raise OptionError(f"unknown engine {q(engine)}", param="engine", allowed=ENGINES)
    win = check_volume_options(order=order, dtype=dtype, raw=raw, window=window, layout=layout,
                               split_duplicates=split_duplicates)
    from ...cores import usable_cores

    workers = workers or min(4, usable_cores())
    # Series run side by side; within one, pixels are read in this worker only (no nested pools).
    options = dict(order=order, dtype=dtype, raw=raw, window=win, layout=layout, strict=strict, skip_bad=skip_bad,
                   split_duplicates=split_duplicates, workers=1 if workers > 1 else None, progress=None)
    series, scan = scan_series(tree, None, True)
    tasks, localizers = plan_export(series, out_dir, name_template, options)
    kept = {"name_template": name_template, **{k: v for k, v in options.items() if k not in ("workers", "progress")},
            "inputs": [str(Path(p)) for p in ([tree] if isinstance(tree, (str, os.PathLike)) else tree)]}
    folder = ShardFolder(out_dir, kind=KIND, options=kept, force=force, planned=len(tasks),
                         verify=_still_valid({t.name: t for t in tasks}))
    return _run(folder, tasks, localizers, scan, skip_bad=skip_bad, workers=workers, engine=engine,
                progress=progress)


def _still_valid(by_name: dict[str, SeriesTask]) -> Callable[[Path, ShardRecord], bool]:
    """Whether a finished file can be kept: a planned series of the same files at the same index
    (the index is in the file's metadata), and the file intact (size and SHA-256)."""

    def check(folder: Path, record: ShardRecord) -> bool:
        task = by_name.get(record.name)
        return (task is not None and task.series.index == record.index
                and record.meta.get("listing_sha256") == task.listing and is_intact(folder, record))

    return check


def _kept_entry(entry: Any, task: SeriesTask) -> dict[str, Any] | None:
    """The manifest entry of a series whose file is kept from an earlier run, or None to convert it
    again. The series' facts come from the series found now; the earlier entry gives only what its
    conversion said, and only when that has the types a conversion gives and its shape is the
    file's: the manifest may come from anywhere, and the summary prints these fields."""
    if not isinstance(entry, dict):
        return None
    shape, dtype, spacing, files, warnings = (entry.get(k) for k in
                                              ("shape", "dtype", "spacing_mm", "files", "warnings"))

    def whole(value: Any) -> bool:
        return type(value) is int and value >= 0

    if not (isinstance(shape, list) and all(whole(v) for v in shape) and isinstance(dtype, str)
            and dtype.isprintable() and whole(files)
            and (spacing is None or isinstance(spacing, list) and all(v is None or type(v) in (int, float)
                                                                       for v in spacing))
            and isinstance(warnings, list) and all(isinstance(w, str) and w.isprintable() for w in warnings)):
        return None
    try:
        volume = read_header(Path(task.folder) / task.name).entries.get("volume")
    except TensortoolError:
        return None
    if volume is None or list(volume.shape) != shape:
        return None
    return _entry(task.series, "converted", file=task.name, shape=shape, dtype=dtype, spacing_mm=spacing,
                  files=files, warnings=warnings)


def _run(folder: ShardFolder, tasks: list[SeriesTask], localizers: list[dict[str, Any]], scan: dict[str, Any], *,
         skip_bad: bool, workers: int, engine: str | Engine, progress: Progress | None) -> ExportResult:
    """Convert the tasks not finished yet, saving the manifest after each one."""
    listed = folder.manifest.info.get("series")
    old: dict[str, Any] = {}
    for e in listed if isinstance(listed, list) else []:
        if isinstance(e, dict) and e.get("status") == "converted" and isinstance(e.get("file"), str):
            old.setdefault(e["file"], e)
    entries = {e["index"]: e for e in localizers}
    by_name = {t.name: t for t in tasks}
    for record in folder.resumed:  # each a planned series' file (see _still_valid)
        kept = _kept_entry(old.get(record.name), by_name[record.name])
        if kept is not None:
            entries[record.index] = kept
    todo = [t for t in tasks if t.series.index not in entries]
    unreadable = list(scan["skipped"])
    warnings = [f"{len(unreadable)} file(s) with an unreadable header were left out"] if unreadable else []
    info = {"series": [], "unreadable_files": unreadable, "not_dicom_files": scan["not_dicom"], "warnings": warnings}

    def save() -> None:
        info["series"] = [entries[k] for k in sorted(entries)]
        folder.manifest.info = info

    save()
    folder.save()
    failed, errors, done = [], {}, [len(tasks) - len(todo)]

    def take(result: dict[str, Any]) -> None:
        record = result.pop("record", None)
        raw_error = result.pop("raw_error", None)
        entries[result["index"]] = result
        save()
        if record is not None:
            folder.add(record)
        else:
            failed.append(result)
            errors[result["index"]] = _error(raw_error)
            folder.save()
        done[0] += 1
        if progress:
            progress(done[0], len(tasks))

    cluster = engine_of(engine) if not isinstance(engine, str) or engine == "ray" else None
    if cluster is not None:  # one series per task; results arrive as tasks finish
        cluster.run(convert_series, todo, sizes=[len(t.series.slices) for t in todo],
                    on_done=lambda _, result: take(result), labels=[str(Path(t.folder) / t.name) for t in todo])
    else:
        for result in _results(todo, workers, engine):
            take(result)
    manifest = folder.finish(info).to_json()
    failed.sort(key=lambda e: e["index"])
    return ExportResult(str(folder.path), manifest, info["series"], len(todo) - len(failed),
                        len(tasks) - len(todo), failed, [] if skip_bad else unreadable, errors)


def _error(raw: tuple) -> TensortoolError:
    """The error a worker reported, rebuilt (exceptions with keyword fields do not cross processes)."""
    import tensortool.errors as errors

    kind, message, path, hint, param = raw
    return getattr(errors, kind, TensortoolError)(message, path, hint, param=param)
