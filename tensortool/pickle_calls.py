"""What a pickle's calls may be given: the rules ``pickle_scan.Scan`` applies to each REDUCE,
NEWOBJ and BUILD (see its module doc), and the symbolic values it tracks.

The rules are what ``torch.save``, numpy and the standard library write; anything else that could
fill memory, loop without end or read uninitialised memory is recorded as a problem.
"""

from __future__ import annotations

import re
from typing import Any

from . import pickle_globals

_NUMPY_CORE = ("numpy._core.multiarray", "numpy.core.multiarray")
RECONSTRUCT = {f"{c}._reconstruct" for c in _NUMPY_CORE}
SCALAR = {f"{c}.scalar" for c in _NUMPY_CORE}
STORAGE_REBUILDS = {"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
                    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_qtensor"}
TENSOR_REBUILDS = STORAGE_REBUILDS | {
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor", "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter"}
# Calls that copy or walk what they are given: each input may feed only one of them.
COPYING = {"builtins.set", "builtins.frozenset", "builtins.list", "builtins.tuple", "builtins.dict",
           "collections.OrderedDict", "collections.Counter", "collections.defaultdict", "torch.Size",
           "builtins.bytearray", "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
           "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_device_tensor_from_cpu_tensor",
           } | SCALAR
CONTAINER_ARG = {"builtins.set", "builtins.frozenset", "builtins.list", "builtins.tuple", "builtins.dict",
                 "collections.OrderedDict", "collections.Counter", "torch.Size"}
LITERAL_ARGS = {"builtins.int", "builtins.float", "builtins.str", "builtins.bool", "builtins.complex",
                "builtins.slice", "torch.device", "torch.serialization._get_layout", "decimal.Decimal"} | {
    n for n in pickle_globals.PLAIN if n.startswith(("pathlib.", "numpy.dtypes.")) or
    (n.startswith("numpy.") and n.count(".") == 1 and n not in ("numpy.ndarray", "numpy.recarray", "numpy.dtype",
                                                                  "numpy.record"))}
NEVER_CALLED = {"numpy.ndarray", "numpy.recarray", "numpy.rec.recarray", "torch._utils._rebuild_wrapper_subclass"}
TEXT_ENCODINGS = {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1", "utf-8", "utf8", "utf_8",
                  "ascii"}
# Classes whose instances an allowed BUILD may update (torch refuses BUILD on anything it does not allow).
BUILDABLE = {"collections.OrderedDict", "argparse.Namespace", "types.SimpleNamespace", "numpy.dtype"} | \
    RECONSTRUCT | TENSOR_REBUILDS
_TENSOR_OR_STORAGE = re.compile(r"^torch\.(?:[A-Za-z_]\w*\.)*(?:[A-Za-z]*Tensor|[A-Za-z]*Storage)$")


class Sym:
    """A value on the symbolic stack."""

    __slots__ = ("kind", "name", "value", "items", "size", "depth", "uses")

    def __init__(self, kind: str, name: str | None = None, value: Any = None, items: list | None = None):
        self.kind = kind        # lit, list, tuple, dict, set, global, result, persid, other
        self.name = name        # global: its name; result: the name of what was called
        self.value = value      # lit: the value
        self.items = items      # containers: the Syms in them
        self.size = 1           # tuples: items counting shared parts each time (what hashing walks)
        self.depth = 1          # tuples: nesting
        self.uses = 0           # times copied or walked by a call

    def describe(self) -> str:
        if self.kind == "lit":
            return type(self.value).__name__
        if self.kind in ("global", "result"):
            return f"{self.name}" if self.kind == "global" else f"the result of {self.name}"
        return self.kind


MARK = Sym("mark")


class CallRules:
    """The checks on calls, as methods of the scan (they record problems and count uses on it)."""

    _limit: int
    _user: frozenset[str]
    _enums: frozenset[str]

    def _problem(self, text: str) -> None:
        raise NotImplementedError

    def _hashed(self, keys: list[Sym]) -> None:
        for key in keys:
            if key.kind == "tuple" and key.size > self._limit:
                self._problem("a dictionary key or set item that repeats shared parts")

    def _use(self, inputs: list[Sym], what: str) -> None:
        """``inputs`` are copied or walked by ``what``: a container, bytes or tensor may feed one such call
        (the same one fed to many is how a small pickle fills memory)."""
        for sym in inputs:
            if sym.kind in ("list", "dict", "set", "tuple", "result", "persid") or \
                    (sym.kind == "lit" and isinstance(sym.value, (str, bytes)) and len(sym.value) > 64):
                sym.uses += 1
                if sym.uses > 1 and not (sym.kind == "tuple" and sym.size <= 64):
                    self._problem(f"{what} is given the same {sym.describe()} more than once (each call copies it: "
                                  "a memory bomb)")

    def _tensorish(self, sym: Sym) -> bool:
        return sym.kind == "persid" or (sym.kind == "result" and sym.name in TENSOR_REBUILDS)

    def _data(self, sym: Sym, depth: int = 0) -> bool:
        """Plain data built by the pickle itself: literals, globals, containers of them."""
        if depth > 20:
            return False
        if sym.kind in ("lit", "global"):
            return True
        if sym.kind in ("list", "tuple", "dict", "set"):
            return all(self._data(i, depth + 1) for i in (sym.items or ()))
        return sym.kind == "result" and sym.name in ("_codecs.encode", "numpy.dtype", "datetime.timedelta",
                                                     "datetime.timezone")

    def _call(self, func: Sym, args: Sym, op: str) -> Sym:
        if func.kind != "global":
            self._problem(f"{op} calls {func.describe()}, an object computed while unpickling")
            return Sym("result", name="<computed>")
        name = func.name or ""
        items = args.items if args.kind == "tuple" and args.items is not None else None
        if items is None:
            self._problem(f"{op} {name} with arguments that are not a tuple built by the pickle")
            return Sym("result", name=name)
        self._check_call(name, items, op)
        return Sym("result", name=name)

    def _check_call(self, name: str, items: list[Sym], op: str) -> None:
        bad = f"{op} {name}"
        if name in NEVER_CALLED or (_TENSOR_OR_STORAGE.match(name) and name != "torch.nn.parameter.Parameter"):
            self._problem(f"{bad}: builds a tensor, array or storage from sizes in the file (uninitialised or "
                          "unbounded memory); torch.save and numpy never write that")
            return
        if name == "_codecs.encode":
            if not (1 <= len(items) <= 3 and items[0].kind == "lit" and isinstance(items[0].value, str)
                    and all(i.kind == "lit" and isinstance(i.value, str) for i in items[1:])
                    and (len(items) < 2 or items[1].value.lower() in TEXT_ENCODINGS)):
                self._problem(f"{bad} with arguments other than a string and a text encoding (encoding its own "
                              "output again and again grows without bound)")
            return
        if name == "builtins.bytearray":
            ok = not items or (len(items) == 1 and (items[0].kind == "lit" and isinstance(items[0].value, (bytes, str))
                                                    or items[0].kind == "result" and items[0].name == "_codecs.encode"))
            ok = ok or (len(items) == 2 and all(i.kind == "lit" and isinstance(i.value, str) for i in items)
                        and items[1].value.lower() in TEXT_ENCODINGS)
            if not ok:
                self._problem(f"{bad} with a size or a computed object (bytearray(10**11) fills memory)")
            self._use(items, name)
            return
        if name in CONTAINER_ARG:
            if len(items) > 1 or (items and items[0].kind not in ("list", "tuple", "dict", "set")):
                self._problem(f"{bad} with {', '.join(i.describe() for i in items)} (it iterates over what it is "
                              "given; torch.save gives a list or dict built by the pickle)")
            self._use(items, name)
            return
        if name == "collections.defaultdict":
            if items and not (items[0].kind == "global" or (items[0].kind == "lit" and items[0].value is None)):
                self._problem(f"{bad} whose factory is {items[0].describe()}")
            if len(items) > 2 or (len(items) == 2 and items[1].kind not in ("dict", "list")):
                self._problem(f"{bad} with arguments torch.save never writes")
            self._use(items[1:], name)
            return
        self._check_rebuild(name, items, op)

    def _check_rebuild(self, name: str, items: list[Sym], op: str) -> None:
        """numpy's array rebuild, torch's tensor, storage and parameter rebuilds; then the rest."""
        bad = f"{op} {name}"
        if name in RECONSTRUCT:
            shape = items[1] if len(items) >= 2 else None
            if not (len(items) == 3 and items[0].kind == "global" and shape is not None and shape.kind == "tuple"
                    and [i.value for i in shape.items or [] if i.kind == "lit"] == [0]
                    and len(shape.items or []) == 1):
                self._problem(f"{bad} with a shape other than (0,) (numpy writes (0,) and fills the array on BUILD; "
                              "another shape allocates memory the file does not hold)")
            return
        if name in STORAGE_REBUILDS:
            if not items or items[0].kind != "persid":
                self._problem(f"{bad} on {items[0].describe() if items else 'nothing'} instead of a storage in the file "
                              "(uninitialised memory)")
            return
        if name == "torch._tensor._rebuild_from_type_v2":
            if len(items) != 4 or items[0].kind != "global" or items[0].name not in TENSOR_REBUILDS or \
                    items[1].kind != "global" or items[2].kind != "tuple":
                self._problem(f"{bad} with a function or arguments torch.save never writes")
                return
            self._check_call(items[0].name or "", items[2].items or [], op)
            return
        if name in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
                    "torch.nn.parameter.Parameter"):
            if items and not self._tensorish(items[0]) and not (items[0].kind == "lit" and items[0].value is None):
                self._problem(f"{bad} on {items[0].describe()} instead of a tensor")
            return
        if name in COPYING or name in TENSOR_REBUILDS:
            self._use([i for i in items if i.kind != "global"], name)
            return
        self._check_plain_call(name, items, bad)

    def _check_plain_call(self, name: str, items: list[Sym], bad: str) -> None:
        if name in LITERAL_ARGS or name.startswith("datetime."):
            if not all(self._data(i) for i in items):
                self._problem(f"{bad} with {', '.join(i.describe() for i in items)} (expected plain values)")
            return
        if name == "numpy.dtype":
            if not all(self._data(i) for i in items):
                self._problem(f"{bad} with arguments that are not plain values")
            return
        # argparse.Namespace, types.SimpleNamespace, enums and classes the user allowed: they store what
        # they are given.

    def _new(self, cls: Sym, args: Sym) -> Sym:
        if cls.kind != "global":
            self._problem(f"NEWOBJ on {cls.describe()}, an object computed while unpickling")
            return Sym("result", name="<computed>")
        name = cls.name or ""
        if name in NEVER_CALLED or name.startswith("numpy.") and name not in ("numpy.dtype",) and \
                not name.startswith("numpy.dtypes.") or (_TENSOR_OR_STORAGE.match(name)
                                                          and name != "torch.nn.parameter.Parameter"):
            self._problem(f"NEWOBJ {name}: builds a tensor, array or storage from sizes in the file")
        elif args.kind != "tuple" or not all(self._data(i) or self._tensorish(i) for i in args.items or []):
            self._problem(f"NEWOBJ {name} with arguments that are not plain values")
        return Sym("result", name=name)

    def _build(self, inst: Sym, state: Sym) -> None:
        name = inst.name or ""
        if inst.kind == "result" and name in self._enums:
            self._problem(f"BUILD on a member of the enum {name} (it would change the enum for the whole program)")
        elif inst.kind == "result" and (name in BUILDABLE or name in self._user):
            if name in RECONSTRUCT or name == "numpy.dtype" or name in self._user or \
                    name in ("collections.OrderedDict", "argparse.Namespace", "types.SimpleNamespace"):
                self._use([state], f"BUILD of {name}")
        elif inst.kind == "result" and inst.name == "<computed>":
            self._problem("BUILD on an object computed while unpickling")
        elif inst.kind == "result":
            self._problem(f"BUILD on the result of {name}, which torch.save, numpy and the standard library never "
                          "update after building")
        # anything else: torch refuses BUILD on types it does not allow
