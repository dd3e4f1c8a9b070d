"""Which globals a pickle may use: torch's safe list, a static list of plain data types, and plain
data classes that the user names in ``allow_globals``.

Allowing a global lets the file call it: torch's weights-only unpickler calls an allowed global on
REDUCE (``cls(*args)`` runs ``__new__`` and ``__init__``), calls ``cls.__new__`` on NEWOBJ, and
``__setstate__`` or ``__dict__.update``/``setattr`` on BUILD, all with values from the file. So the
rule is an allow-list, never a deny-list:

- ``PLAIN``: data types that real checkpoints carry (numpy arrays, scalars and dtypes as numpy 1 and 2
  write them, OrderedDict/defaultdict, argparse.Namespace, paths, datetimes, ...). It is a table of
  names: deciding whether a name is on it imports nothing, so a hint can name only these.
- A class the user names that is not on it is imported (the user named it: importing runs its
  package's top-level code, as using the package would) unless it comes from the standard library, and
  allowed only if it is *plain data* (``plain_class_problem``).
- Everything else (functions, ``timeit.timeit``, ``functools.partial``, ``torch.load``, classes with
  their own construction, state or attribute hooks) is refused: only ``trust_pickle`` loads such a
  file, and only for a file whose source you trust.
"""

from __future__ import annotations

import abc
import enum
import importlib
import importlib.util
import sys
from typing import Any

from .errors import UsageError, q

TRUST_ONLY = "only {trust_pickle=True}, and only for a file whose source you trust"

_CORE = ("numpy._core.multiarray", "numpy.core.multiarray")  # numpy 2, numpy 1
_NUMPY_SCALARS = (
    "bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "intc", "uintc",
    "longlong", "ulonglong", "float16", "float32", "float64", "longdouble", "complex64", "complex128",
    "clongdouble", "str_", "bytes_", "void", "datetime64", "timedelta64", "object_", "half", "single", "double")
_NUMPY_DTYPES = (
    "BoolDType", "Int8DType", "UInt8DType", "Int16DType", "UInt16DType", "Int32DType", "UInt32DType", "Int64DType",
    "UInt64DType", "ByteDType", "UByteDType", "ShortDType", "UShortDType", "IntDType", "UIntDType", "LongDType",
    "ULongDType", "LongLongDType", "ULongLongDType", "Float16DType", "Float32DType", "Float64DType",
    "LongDoubleDType", "Complex64DType", "Complex128DType", "CLongDoubleDType", "ObjectDType", "BytesDType",
    "StrDType", "VoidDType", "DateTime64DType", "TimeDelta64DType", "StringDType")
_PATHS = ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")


def _table() -> dict[str, tuple[str, ...]]:
    """name in the file -> where to find it ("module:attribute"), first match wins."""
    table: dict[str, tuple[str, ...]] = {}
    for core in _CORE:
        for attr in ("_reconstruct", "scalar"):
            table[f"{core}.{attr}"] = tuple(f"{c}:{attr}" for c in _CORE)
    table["numpy.ndarray"] = ("numpy:ndarray",)
    table["numpy.dtype"] = ("numpy:dtype",)
    table["numpy.recarray"] = table["numpy.rec.recarray"] = ("numpy:recarray",)
    table["numpy.record"] = table["numpy.rec.record"] = ("numpy:record",)
    for name in _NUMPY_DTYPES:
        table[f"numpy.dtypes.{name}"] = (f"numpy.dtypes:{name}",)
    for name in _NUMPY_SCALARS:
        table[f"numpy.{name}"] = (f"numpy:{name}",)
    for name in ("OrderedDict", "Counter", "defaultdict"):
        table[f"collections.{name}"] = (f"collections:{name}",)
    table["argparse.Namespace"] = ("argparse:Namespace",)
    table["types.SimpleNamespace"] = ("types:SimpleNamespace",)
    for name in _PATHS:  # Python 3.13 writes pathlib._local.PosixPath
        table[f"pathlib.{name}"] = table[f"pathlib._local.{name}"] = (f"pathlib:{name}",)
    for name in ("datetime", "date", "time", "timedelta", "timezone"):
        table[f"datetime.{name}"] = (f"datetime:{name}",)
    table["decimal.Decimal"] = ("decimal:Decimal",)
    # Types as values (a defaultdict's factory, a config's "dtype": float) and protocol-2 containers.
    for name in ("set", "frozenset", "complex", "bytearray", "slice", "list", "tuple", "dict", "int", "float",
                 "str", "bool"):
        table[f"builtins.{name}"] = (f"builtins:{name}",)
    table["torch.torch_version.TorchVersion"] = ("torch.torch_version:TorchVersion",)
    return table


PLAIN: dict[str, tuple[str, ...]] = _table()

# Only for the wording of a refusal: globals whose use in a pickle is to run code or touch the system.
HARMFUL_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty", "webbrowser", "code",
    "codeop", "ctypes", "pickle", "_pickle", "marshal", "timeit", "pdb", "bdb", "cProfile", "profile", "trace",
    "doctest", "multiprocessing", "functools", "operator", "io", "_io", "tempfile", "signal", "threading",
    "_thread", "asyncio", "concurrent", "urllib", "http", "ftplib", "smtplib", "telnetlib", "antigravity", "this",
    "site", "sysconfig", "pkgutil", "zipimport", "inspect", "types", "builtins", "__builtin__", "copyreg", "gc",
    "platform", "pydoc", "idlelib", "tkinter", "turtle", "venv", "ensurepip", "distutils", "setuptools", "pip",
})
_HARMFUL_NAMES = ("load", "loads", "save", "open", "eval", "exec", "compile", "system", "popen", "run", "call",
                  "spawn", "import_module", "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars",
                  "apply", "partial", "methodcaller", "attrgetter", "itemgetter", "write_text", "write_bytes",
                  "unlink", "remove", "rmtree")


def is_harmful(name: str) -> bool:
    """A global that no checkpoint needs and whose use is to run code (wording only: anything not
    allowed is refused either way)."""
    module = name.split(".", 1)[0]
    leaf = name.rsplit(".", 1)[-1]
    return (name not in PLAIN and module in HARMFUL_MODULES) or leaf in _HARMFUL_NAMES


def is_plain(name: str) -> bool:
    """On the static list: a hint may suggest ``{allow_globals=name}``."""
    return name in PLAIN


def resolve_plain(name: str) -> Any:
    """The object a ``PLAIN`` name stands for, from the modules the table names (numpy, the standard
    library, torch); ``None`` when this installation has none (e.g. numpy.dtypes before numpy 1.25)."""
    for where in PLAIN[name]:
        module, _, attr = where.partition(":")
        try:
            obj: Any = importlib.import_module(module)
        except ImportError:
            continue
        obj = getattr(obj, attr, None)
        if obj is not None:
            return obj
    return None


def numpy_dtype_classes() -> list[tuple[Any, str]]:
    """numpy >= 1.25 dtype instances are of a class per kind (``numpy.dtypes.Float64DType``), and torch
    checks an instance's class on BUILD: allowing ``numpy.dtype`` must allow these too."""
    out = []
    for name in _NUMPY_DTYPES:
        obj = resolve_plain(f"numpy.dtypes.{name}")
        if isinstance(obj, type):
            out.append((obj, f"numpy.dtypes.{name}"))
    return out


# --- classes the user names ---------------------------------------------------------------------

_VETTED_BASES = {object, int, float, str, bytes, tuple, enum.Enum, enum.IntEnum, enum.Flag, enum.IntFlag, abc.ABC}
for _name in ("ReprEnum", "StrEnum"):
    if hasattr(enum, _name):
        _VETTED_BASES.add(getattr(enum, _name))
try:
    import typing as _typing

    _VETTED_BASES.add(_typing.Generic)  # type: ignore[arg-type]
except Exception:  # pragma: no cover
    pass
_METACLASSES = {type, enum.EnumMeta, abc.ABCMeta}
# Attributes that describe a class and are never called on an instance.
_METADATA = {
    "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__slots__", "__annotations__",
    "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__orig_bases__", "__parameters__",
    "__static_attributes__", "__firstlineno__", "__annotate__", "__annotate_func__", "__annotations_cache__",
    "__abstractmethods__", "__type_params__", "__init_subclass__", "__class_getitem__", "__set_name__",
    "__classcell__", "_abc_impl", "__final__",
}
# Methods the standard library generates for dataclasses, named tuples and enums.
_GENERATED = {
    "__init__", "__repr__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__setattr__",
    "__delattr__", "__getstate__", "__setstate__", "__replace__", "__new__", "__getnewargs__", "_make", "_replace",
    "_asdict", "__reduce_ex__", "__reduce__", "__format__", "__str__", "__dir__", "__init_subclass__",
    "_generate_next_value_", "__deepcopy__", "__copy__", "__bool__", "__contains__", "__iter__", "__len__",
    "__or__", "__and__", "__xor__", "__invert__", "__ror__", "__rand__", "__rxor__",
}
_STDLIB_GENERATORS = ("dataclasses.py", "enum.py", "collections/__init__.py", "reprlib.py", "typing.py", "abc.py",
                      "functools.py")


def _generated(value: Any) -> bool:
    """A function that dataclasses/namedtuple/enum wrote (exec'd, so its code says "<string>") or that
    lives in those standard modules."""
    fn = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    for _ in range(4):  # dataclass __repr__ is wrapped by reprlib.recursive_repr
        code = getattr(fn, "__code__", None)
        if code is None:
            return type(fn).__name__ in ("builtin_function_or_method", "wrapper_descriptor", "method_descriptor")
        filename = code.co_filename.replace("\\", "/")
        if filename == "<string>" or filename.startswith("namedtuple_"):
            return True
        if filename.endswith(_STDLIB_GENERATORS) and _in_stdlib(filename):
            inner = getattr(fn, "__wrapped__", None)
            if inner is None:
                return True
            fn = inner
            continue
        return False
    return False


def _in_stdlib(filename: str) -> bool:
    import sysconfig

    stdlib = sysconfig.get_paths().get("stdlib", "").replace("\\", "/")
    return bool(stdlib) and filename.startswith(stdlib)


def plain_class_problem(obj: Any) -> str | None:
    """Why ``obj`` is not a plain data class (None when it is).

    Plain: an enum, a dataclass, a named tuple or a simple class, whose metaclass is ``type``,
    ``EnumMeta`` or ``ABCMeta``, built on ``object`` (or int/float/str/bytes/tuple for enums and
    named tuples), and none of whose own classes defines a method that unpickling or printing would
    call with values from the file (``__new__``, ``__init__``, ``__post_init__``, ``__setstate__``,
    ``__reduce__``, ``__setattr__``, ``__getattr__``, ``__getattribute__``, ``__eq__``, ``__hash__``,
    ``__repr__``, ``__del__``, ..., an enum's ``_missing_``, a property setter or other data
    descriptor) unless the standard library generated it (dataclass ``__init__``, ``__repr__``, ...).
    """
    if not isinstance(obj, type):
        kind = "a function" if callable(obj) else f"a {type(obj).__name__}"
        return f"it is {kind}, not a data type: allowing it would let the file call it with values of its choosing"
    if type(obj) not in _METACLASSES:
        return f"its metaclass {type(obj).__module__}.{type(obj).__qualname__} runs its own code on construction"
    for klass in obj.__mro__:
        if klass in _VETTED_BASES:
            continue
        if klass.__module__ == "builtins" or not hasattr(klass, "__dict__"):
            return f"it derives from {klass.__qualname__}, whose methods unpickling would call"
        is_dataclass = "__dataclass_fields__" in vars(klass)
        is_tuple = "_fields" in vars(klass) and issubclass(klass, tuple)
        is_enum = isinstance(klass, enum.EnumMeta)
        for name, value in vars(klass).items():
            if name in _METADATA:
                continue
            if name == "__post_init__":
                return f"{klass.__qualname__} defines __post_init__, which would run with values from the file"
            if name in ("_missing_",) and is_enum:
                return f"{klass.__qualname__} defines _missing_, which would run with a value from the file"
            dunder = name.startswith("__") and name.endswith("__")
            if dunder and not callable(value) and not hasattr(type(value), "__get__"):
                continue  # data: __hash__ = None, __slotnames__ (copyreg's cache), __match_args__
            if dunder:
                if name in _GENERATED and (is_dataclass or is_tuple or is_enum) and _generated(value):
                    continue
                if name in _GENERATED and _generated(value) and klass.__module__ in ("enum", "collections"):
                    continue
                return f"{klass.__qualname__} defines {name}, which unpickling or printing would call with values " \
                       "from the file"
            setter = getattr(type(value), "__set__", None) or getattr(type(value), "__delete__", None)
            if setter is not None and type(value).__name__ not in ("member_descriptor", "getset_descriptor",
                                                                   "_tuplegetter"):
                if isinstance(value, property) and value.fset is None and value.fdel is None:
                    continue
                return f"{klass.__qualname__}.{name} is a property or descriptor with a setter, which unpickling " \
                       "would call with values from the file"
    return None


def _checked_name(name: str) -> tuple[str, str]:
    module, _, attr = name.rpartition(".")
    if not module or not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(f"{{allow_globals}} {q(name)}: expected module.Name, e.g. argparse.Namespace",
                         param="allow_globals")
    return module, attr


def resolve_user_global(name: str) -> Any:
    """The class ``name`` names (not on the static list), imported and checked to be plain data.

    Standard-library modules are never imported for this (their plain data types are all on the static
    list, and importing some runs code: ``antigravity`` opens a browser); any other module is imported
    only when it is installed, because the user named it.
    """
    module, attr = _checked_name(name)
    top = module.split(".", 1)[0]
    refuse = f"{{allow_globals}} {name!r}: refusing"
    if top in ("builtins", "__builtin__", "__main__") or top in getattr(sys, "stdlib_module_names", ()):
        why = "it runs code or touches the system" if is_harmful(name) else \
            "tensortool allows only plain data types, and this standard-library name is not one it knows"
        raise UsageError(f"{refuse}: {why} ({TRUST_ONLY})", param="allow_globals")
    if importlib.util.find_spec(top) is None:
        raise UsageError(f"{{allow_globals}} {q(name)}: cannot import module {q(module)}", param="allow_globals")
    obj: Any = None
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # module.Class.Inner: import the longest module prefix
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception as exc:  # the user's package failed to import
            raise UsageError(f"{{allow_globals}} {q(name)}: importing {'.'.join(parts[:cut])} failed "
                              f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})",
                             param="allow_globals")
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
            if obj is None:
                raise UsageError(f"{{allow_globals}} {q(name)}: {'.'.join(parts[:cut])} has no {q(part)}",
                                 param="allow_globals")
        break
    else:
        raise UsageError(f"{{allow_globals}} {q(name)}: cannot import module {q(module)}", param="allow_globals")
    problem = plain_class_problem(obj)
    if problem:
        raise UsageError(f"{refuse}: {problem}; tensortool allows only plain data types (enums, dataclasses, "
                          f"simple classes) ({TRUST_ONLY})", param="allow_globals")
    return obj


def resolve_allowed(names: list[str] | tuple[str, ...]) -> list[tuple[Any, str]]:
    """``(object, name)`` pairs for ``torch.serialization.safe_globals``, each under the exact name the
    file uses; raises ``UsageError`` for a name that is not a plain data type."""
    out: list[tuple[Any, str]] = []
    for name in dict.fromkeys(names):
        _checked_name(name)
        if name in PLAIN:
            obj = resolve_plain(name)
            if obj is None:
                raise UsageError(f"{{allow_globals}} {q(name)}: not available in this installation",
                                 param="allow_globals")
            out.append((obj, name))
            if name == "numpy.dtype":
                out.extend(numpy_dtype_classes())
        else:
            out.append((resolve_user_global(name), name))
    return out
