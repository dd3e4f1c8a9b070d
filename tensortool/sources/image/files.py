"""Finding image files: paths, folders, glob patterns and ImageFolder trees."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...errors import InputError
from .tar import TarMember, expand_braces, has_braces, is_tar, tar_images

# torchvision's IMG_EXTENSIONS plus GIF and PBM; matched case-insensitively.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff",
                            ".webp", ".ppm", ".pgm", ".pbm"})
_GLOB_CHARS = set("*?[")


class PathList(Sequence[Path]):
    """File names held as strings, each made a Path when asked for: a million Path objects cost
    seconds and hundreds of MB before the first image could be decoded."""

    def __init__(self, names: list[str]):
        self.strings = names

    def __len__(self) -> int:
        return len(self.strings)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return PathList(self.strings[index])
        return Path(self.strings[index])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented


def names_of(files: Sequence) -> Sequence:
    """The files as ``str``-able items without making Path objects (strings or tar members)."""
    return files.strings if isinstance(files, PathList) else files


@dataclass
class ImageSet:
    """The files to read, in order; with an ImageFolder tree also their class labels."""

    files: Sequence[Path]
    labels: list[int] | None = None
    class_names: list[str] | None = None
    empty_classes: list[str] | None = None
    warnings: list[str] = field(default_factory=list)


def _is_image(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_SUFFIXES


def _walk(folder: Path | str, links: list[bool] | None = None) -> list[str]:
    """Image files below ``folder`` in torchvision's ImageFolder order: folders sorted, then
    files sorted within each folder. Hidden files and folders (".name") are skipped; symbolic
    links are followed, and noted in ``links`` (then two names may be one file)."""
    groups: list[tuple[str, list[str]]] = []
    pending = [str(folder)]
    while pending:
        root = pending.pop()
        try:
            entries = list(os.scandir(root))
        except OSError:  # unreadable (or a link loop too deep): skipped, as os.walk does
            continue
        names = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if links is not None and entry.is_symlink():
                links.append(True)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False
            if is_dir:
                pending.append(entry.path)
            elif _is_image(entry.name):
                names.append(entry.name)
        groups.append((root, names))
    found = []
    for root, names in sorted(groups):
        base = str(Path(root))  # the name a Path gives it: "./a" is "a", "." is ""
        prefix = "" if base == "." else os.path.join(base, "")
        found += [prefix + name for name in sorted(names)]
    return found


def _class_folders(folder: Path) -> tuple[list[str], list[str]]:
    """The sub-folders of ``folder`` (sorted class names) and the images at its top; it is an
    ImageFolder tree when there are sub-folders and no such images."""
    with os.scandir(folder) as entries:
        entries = list(entries)
    top = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_file() and _is_image(e.name))
    classes = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    return classes, top


def _not_a_tree(root: Path, classes: list[str], top: list[str], files: list[str]) -> str | None:
    """Why a folder of class folders gave no labels: images at its top, beside them."""
    if not classes or not top or not any(os.path.dirname(f) != str(root) for f in files):
        return None
    more = f" and {len(top) - 1} more image(s)" if len(top) > 1 else ""
    shown = ", ".join(classes[:5]) + (f", … ({len(classes)} in all)" if len(classes) > 5 else "")
    return (f"{root} is not read as an ImageFolder tree, so there are no labels or class_names: "
            f"{root / top[0]}{more} sit(s) at its top, beside the class folder(s) {shown}; "
            "move such files into a class folder (or elsewhere) to get labels")


def find_images(paths: Sequence[str | Path]) -> ImageSet:
    """Expand files, folders (recursively), glob patterns, brace patterns (``a-{000..099}.tar``)
    and WebDataset-style tar shards (see ``tar.py``) into an ordered list of images.

    A single folder whose images all sit in sub-folders is read as torchvision's
    ImageFolder layout: labels are indices into the sorted sub-folder names.

    >>> find_images(["samples/images"]).class_names  # doctest: +SKIP
    ['cat', 'coffee', 'space']
    """
    if not paths:
        raise InputError("no input paths given")
    if isinstance(paths, PathList):
        return ImageSet(paths)  # files already found (one shard's share of a run)
    if all(isinstance(p, TarMember) for p in paths):
        return ImageSet(list(paths))
    paths = [q for p in paths for q in (expand_braces(str(p)) if has_braces(str(p)) and not os.path.exists(p) else [p])]
    tars = [str(p) for p in paths if is_tar(str(p))]
    if tars:
        if len(tars) != len(paths):
            raise InputError("tar shards cannot be mixed with image files or folders in one run",
                             next(p for p in paths if not is_tar(str(p))))
        members, labels, names = tar_images(tars, _is_image)
        return ImageSet(list(members), labels, names)
    if len(paths) == 1 and Path(paths[0]).is_dir():
        root = Path(paths[0])
        classes, top = _class_folders(root)
        if classes and not top:
            return _image_folder(root, classes)
    files: list[str] = []
    links: list[bool] = []  # any symbolic link met while walking a folder
    for raw in paths:
        files += _expand(raw, links)
    warnings = []
    if len(paths) == 1 and Path(paths[0]).is_dir():
        reason = _not_a_tree(Path(paths[0]), classes, top, files)
        if reason:
            warnings.append(reason)
    if len(paths) == 1 and not links:
        return ImageSet(PathList(files), warnings=warnings)  # one folder without links names each file once
    seen: set[str] = set()
    unique = []
    for f in files:  # the same file named twice (a folder and a glob, say) is read once
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return ImageSet(PathList(unique), warnings=warnings)


def _image_folder(root: Path, classes: list[str]) -> ImageSet:
    """An ImageFolder tree: the images of each class folder, labelled by its index."""
    files: list[str] = []
    labels: list[int] = []
    empty = []
    for index, name in enumerate(classes):
        found = _walk(root / name)
        if not found:
            empty.append(name)
        files += found
        labels += [index] * len(found)
    if not files:
        raise InputError("no image files found in any class folder", root)
    return ImageSet(PathList(files), labels, classes, empty)


def _expand(raw: str | Path, links: list[bool]) -> list[str]:
    """One input: a folder (walked), a file, or a glob pattern."""
    path = Path(raw)
    if path.is_dir():
        found = _walk(path, links)
        if not found:
            raise InputError("no image files found in this folder", path,
                             hint=f"looked for {', '.join(sorted(IMAGE_SUFFIXES))}")
        return found
    if path.is_file():
        return [str(path)]
    if _GLOB_CHARS & set(str(raw)):
        links.append(True)  # a pattern can match a folder and the files in it
        matches = sorted(glob.glob(str(raw), recursive=True))
        matched = [str(Path(m)) for m in matches if Path(m).is_file() and _is_image(m)]
        for m in matches:
            if Path(m).is_dir():
                matched += _walk(Path(m), links)
        if not matched:
            raise InputError("no image file matches this pattern", raw)
        return matched
    raise InputError("no such file or directory", path)
