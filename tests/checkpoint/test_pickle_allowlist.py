"""--allow-global is an allow-list: plain data types only; hints name only the static list."""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib
import pathlib
import sys
import textwrap

import numpy as np
import pytest
import torch

from tensortool import inspect_checkpoint, read_bundle
from tensortool.errors import InputError, OptionError
from tensortool.errors import fill
from tensortool.pickle_globals import PLAIN, TRUST_ONLY, plain_class_problem, resolve_allowed

USER_MODULE = textwrap.dedent('''
    import dataclasses, enum, typing

    @dataclasses.dataclass
    class Config:
        lr: float = 0.1
        layers: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, order=True)
    class Frozen:
        a: int = 1

    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    class Plain:
        pass

    class Point(typing.NamedTuple):
        x: int
        y: int

    @dataclasses.dataclass
    class PostInit:
        a: int = 1
        def __post_init__(self):
            self.b = 2

    class Stateful:
        def __setstate__(self, state):
            self.__dict__.update(state)

    class Handwritten:
        def __init__(self, a):
            self.a = a

    class Lookup(enum.Enum):
        A = 1
        @classmethod
        def _missing_(cls, value):
            return cls.A

    class Lazy:
        def __getattr__(self, name):
            return name

    class Setter:
        @property
        def x(self):
            return 1
        @x.setter
        def x(self, value):
            pass

    class Meta(type):
        pass

    class WithMeta(metaclass=Meta):
        pass

    class Listy(list):
        pass

    def helper():
        return 1
''')


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    (tmp_path / "tt_userpkg.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tt_userpkg", None)
    module = importlib.import_module("tt_userpkg")
    yield module
    sys.modules.pop("tt_userpkg", None)


@pytest.mark.parametrize("name", ["Config", "Frozen", "Color", "Plain", "Point"])
def test_plain_user_classes_pass(userpkg, name):
    assert plain_class_problem(getattr(userpkg, name)) is None


@pytest.mark.parametrize("name, why", [
    ("PostInit", "__post_init__"), ("Stateful", "__setstate__"), ("Handwritten", "__init__"), ("Lookup", "_missing_"),
    ("Lazy", "__getattr__"), ("Setter", "setter"), ("WithMeta", "metaclass"), ("Listy", "list"), ("helper", "function"),
])
def test_classes_that_run_code_are_refused(userpkg, name, why):
    assert why in plain_class_problem(getattr(userpkg, name))
    with pytest.raises(OptionError) as err:
        resolve_allowed([f"tt_userpkg.{name}"])
    assert why in str(err.value) and fill(TRUST_ONLY) in str(err.value)


@pytest.mark.parametrize("name", ["timeit.timeit", "functools.partial", "pdb.run", "cProfile.run", "profile.run",
                                  "torch.load", "numpy.load", "builtins.eval", "os.system", "pickle.loads",
                                  "operator.attrgetter", "collections.namedtuple", "antigravity.geohash", "this.s"])
def test_code_running_globals_are_refused(name):
    before = set(sys.modules)
    with pytest.raises(OptionError) as err:
        resolve_allowed([name])
    assert "refusing" in str(err.value) and fill(TRUST_ONLY) in str(err.value)
    assert not {"antigravity", "this"} & (set(sys.modules) - before)  # never imported to decide


def test_user_class_is_named_but_never_suggested_then_loads_when_allowed(userpkg, tmp_path):
    path = tmp_path / "cfg.pth"
    torch.save({"w": torch.ones(2), "cfg": userpkg.Config(lr=0.5, layers=[1, 2]), "color": userpkg.Color.BLUE,
                "np": np.arange(3.0)}, path)
    with pytest.raises(InputError) as err:
        inspect_checkpoint(path)
    text = str(err.value)
    assert "tt_userpkg.Config" in text and fill(TRUST_ONLY) in text and "allow_globals" not in text
    with pytest.raises(InputError) as err:
        read_bundle(path)
    assert "allow_globals" not in str(err.value) and "trust_pickle=True" in str(err.value)
    names = ["tt_userpkg.Config", "tt_userpkg.Color", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
             "numpy.dtype"]
    info = inspect_checkpoint(path, allow_globals=names)
    assert info.count == 1 and "Config(lr=0.5" in str(info.other)


def test_numpy_and_stdlib_data_types_are_suggested_and_load(tmp_path):
    path = tmp_path / "data.pth"
    obj = {"w": torch.ones(2), "arr": np.arange(4, dtype=np.int16), "scalar": np.float32(1.5), "dtype": np.dtype("f8"),
           "ns": argparse.Namespace(lr=0.1), "path": pathlib.PurePosixPath("/data/x"),
           "when": datetime.datetime(2024, 5, 1, 12, 0), "delta": datetime.timedelta(days=2),
           "fs": frozenset({1, 2}), "od": collections.OrderedDict(a=1)}
    torch.save(obj, path)
    with pytest.raises(InputError) as err:
        inspect_checkpoint(path)
    import re

    names = re.findall(r"\{allow_globals=([\w.]+)\}", err.value.hint)
    assert names and all(n in PLAIN for n in names)
    info = inspect_checkpoint(path, allow_globals=names)
    assert info.count == 1


@pytest.mark.parametrize("name", ["numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                                  "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"])
def test_both_numpy_spellings_resolve_without_the_deprecated_module(name):
    obj, spelled = resolve_allowed([name])[0]
    assert callable(obj) and spelled == name


def test_allowing_numpy_dtype_allows_its_instance_classes():
    names = [n for _, n in resolve_allowed(["numpy.dtype"])]
    assert "numpy.dtype" in names and f"numpy.dtypes.{type(np.dtype('f8')).__name__}" in names
