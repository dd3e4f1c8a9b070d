"""Reading a pickle's opcodes without running them: every global it can reach, and every call it
would make with arguments that are not plain data.

``Scan`` follows the pickle machine's stack and memo symbolically (values are literals, containers
built by opcodes, globals, or "the result of calling X"), so it sees globals however they are reached
(GLOBAL, INST, STACK_GLOBAL with names from the memo, OBJ, EXT codes) and what each REDUCE, NEWOBJ
and BUILD is given. Torch's weights-only unpickler runs only what its allowlist names, but some of
what it allows can still be made to exhaust memory or time, or to read uninitialised memory, when
given crafted arguments (``bytearray(10**11)``; ``_codecs.encode`` applied to its own output 40 times;
``set()`` of a shared list a thousand times; a tuple nested with shared halves that hashing walks 2**60
times; ``torch.Tensor(10**9)``, which is uninitialised). ``Scan.problems`` names those, so that such a
file is refused before ``torch.load`` sees it. The rules are what ``torch.save``, numpy and the
standard library write; nothing they write is refused.
"""

from __future__ import annotations

import io
import pickletools
from typing import Any, BinaryIO

try:  # torch maps Python 2 names (__builtin__.set, copy_reg) the way pickle does
    from torch._utils import IMPORT_MAPPING, NAME_MAPPING
except Exception:  # pragma: no cover
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING  # type: ignore[no-redef]

from .pickle_calls import CallRules, Sym

MAX_TUPLE_DEPTH = 100
_LITERALS = ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT", "UNICODE",
             "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8")


def mapped(module: str, name: str) -> str:
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


class Scan(CallRules):
    """Scan one pickle from ``fh`` (left just after its STOP).

    ``globals``: every global reached, in order. ``problems``: calls refused (see the module doc).
    ``error``: why the scan stopped early (a malformed pickle: torch stops at the same place or before).
    ``user_classes``: names the user allowed beyond torch's and the static list (BUILD may update them).
    """

    def __init__(self, fh: BinaryIO, *, limit: int, user_classes: frozenset[str] = frozenset(),
                 enums: frozenset[str] = frozenset()):
        self.globals: list[str] = []
        self.problems: list[str] = []
        self.error: str | None = None
        self.opcodes = 0
        self.persids = 0
        self.result: Sym | None = None
        self._limit = limit
        self._user = user_classes
        self._enums = enums
        self._fh = fh
        try:
            self._run()
        except _Stop as stop:
            self.error = str(stop)
        except (ValueError, EOFError, IndexError, KeyError, TypeError, OverflowError, UnicodeDecodeError,
                MemoryError) as exc:
            self.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"

    @property
    def keys(self) -> list | None:
        """The literal items of the list the pickle returns (a legacy file's storage keys)."""
        if self.result is None or self.result.kind != "list" or self.result.items is None:
            return None
        if not all(i.kind == "lit" for i in self.result.items):
            return None
        return list(dict.fromkeys(i.value for i in self.result.items))

    # -- helpers --------------------------------------------------------------------------------
    def _global(self, name: str) -> Sym:
        if name not in self.globals:
            self.globals.append(name)
        return Sym("global", name)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def _pop_mark(self) -> list[Sym]:
        items = self._stack
        self._stack = self._metastack.pop()
        return items

    def _line(self) -> str:
        line = self._fh.readline()
        if not line.endswith(b"\n"):
            raise _Stop("a GLOBAL name without its newline")
        return line[:-1].decode("utf-8")

    def _tuple(self, items: list[Sym]) -> Sym:
        sym = Sym("tuple", items=list(items))
        sub = [i for i in items if i.kind in ("tuple", "set")]
        sym.size = 1 + len(items) + sum(i.size for i in sub)
        sym.depth = 1 + max((i.depth for i in sub), default=0)
        if sym.depth > MAX_TUPLE_DEPTH:
            self._problem(f"tuples nested {sym.depth} deep (hashing them overflows the stack)")
            raise _Stop("tuples nested too deep")
        if sym.size > self._limit:
            self._problem("a tuple that repeats shared parts (hashing or printing it walks more than "
                          f"{self._limit:,} items)")
            raise _Stop("a tuple that expands without bound")
        return sym

    # -- the machine ----------------------------------------------------------------------------
    def _run(self) -> None:
        self._stack: list[Sym] = []
        self._metastack: list[list[Sym]] = []
        self._memo: dict[int, Sym] = {}
        fh = self._fh
        code2op = pickletools.code2op
        while True:
            code = fh.read(1)
            if not code:
                raise _Stop("the pickle ends without STOP")
            op = code2op.get(code.decode("latin-1"))
            if op is None:
                raise _Stop(f"invalid opcode {code[0]}")
            self.opcodes += 1
            name = op.name
            if name in ("GLOBAL", "INST"):
                module = self._line()
                attr = self._line()
                g = self._global(mapped(module, attr))
                self._stack.append(g if name == "GLOBAL" else self._call(g, self._tuple(self._pop_mark()), "INST"))
                continue
            if name == "PERSID":
                fh.readline()
                self.persids += 1
                self._stack.append(Sym("persid"))
                continue
            arg = op.arg.reader(fh) if op.arg is not None else None
            if name == "STOP":
                self.result = self._stack.pop() if self._stack else None
                return
            if not (self._literal(name, arg) or self._container(name) or self._memo_op(name, arg)
                    or self._object(name, arg)):  # pragma: no cover - every opcode is handled
                raise _Stop(f"opcode {name}")

    def _literal(self, name: str, arg: Any) -> bool:
        stack = self._stack
        if name in _LITERALS:
            stack.append(Sym("lit", value=arg))
        elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
            stack.append(Sym("lit", value=arg.decode("latin-1") if isinstance(arg, bytes) else arg))
        elif name == "BYTEARRAY8":
            stack.append(Sym("lit", value=bytes(arg)))
        elif name == "NONE":
            stack.append(Sym("lit", value=None))
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(Sym("lit", value=name == "NEWTRUE"))
        elif name in ("NEXT_BUFFER",):
            stack.append(Sym("other"))
        elif name not in ("READONLY_BUFFER", "PROTO", "FRAME"):
            return False
        return True

    def _container(self, name: str) -> bool:
        """Opcodes that build lists, dicts, sets and tuples."""
        stack = self._stack
        if name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
            stack.append(Sym(name[6:].lower(), items=[]))
        elif name == "EMPTY_TUPLE":
            stack.append(self._tuple([]))
        elif name in ("LIST", "DICT"):
            items = self._pop_mark()
            if name == "DICT":
                self._hashed(items[0::2])
            self._stack.append(Sym(name.lower(), items=items))
        elif name == "TUPLE":
            items = self._pop_mark()
            self._stack.append(self._tuple(items))
        elif name == "FROZENSET":
            items = self._pop_mark()
            self._hashed(items)
            self._stack.append(Sym("set", items=items))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise _Stop("stack underflow")
            items = stack[-n:]
            del stack[-n:]
            stack.append(self._tuple(items))
        elif name in ("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"):
            self._add(name)
        else:
            return False
        return True

    def _add(self, name: str) -> None:
        """APPEND(S), SETITEM(S), ADDITEMS: items into the container below them."""
        stack = self._stack
        if name == "APPEND":
            item = stack.pop()
            items, kind = [item], "list"
        elif name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            self._hashed([key])
            items, kind = [key, value], "dict"
        else:
            items = self._pop_mark()
            kind = {"APPENDS": "list", "SETITEMS": "dict", "ADDITEMS": "set"}[name]
            if name == "SETITEMS":
                self._hashed(items[0::2])
            elif name == "ADDITEMS":
                self._hashed(items)
        target = self._stack[-1]
        if target.kind == kind and target.items is not None:
            target.items.extend(items)

    def _memo_op(self, name: str, arg: Any) -> bool:
        """The stack and memo: POP, DUP, MARK, GET, PUT, MEMOIZE."""
        stack, memo = self._stack, self._memo
        if name == "POP":
            if stack:
                stack.pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            stack.append(stack[-1])
        elif name == "MARK":
            self._metastack.append(stack)
            self._stack = []
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[int(arg)])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if int(arg) < 0:
                raise _Stop("negative memo index")
            memo[int(arg)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        else:
            return False
        return True

    def _object(self, name: str, arg: Any) -> bool:
        """Globals, calls, object creation and BUILD: what the call rules judge."""
        stack = self._stack
        if name in ("EXT1", "EXT2", "EXT4"):
            stack.append(self._global(f"<extension code {arg}>"))
        elif name == "STACK_GLOBAL":
            attr, module = stack.pop(), stack.pop()
            if module.kind == "lit" and attr.kind == "lit" and isinstance(module.value, str) and \
                    isinstance(attr.value, str):
                stack.append(self._global(mapped(module.value, attr.value)))
            else:
                stack.append(self._global("<a global whose name is computed while unpickling>"))
        elif name == "REDUCE":
            args = stack.pop()
            func = stack.pop()
            stack.append(self._call(func, args, "REDUCE"))
        elif name == "NEWOBJ":
            args = stack.pop()
            cls = stack.pop()
            stack.append(self._new(cls, args))
        elif name == "NEWOBJ_EX":
            kwargs, args, cls = stack.pop(), stack.pop(), stack.pop()
            self._use([kwargs], "NEWOBJ_EX")
            stack.append(self._new(cls, args))
        elif name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise _Stop("OBJ without a class")
            self._stack.append(self._call(items[0], self._tuple(items[1:]), "OBJ"))
        elif name == "BUILD":
            state = stack.pop()
            self._build(stack[-1], state)
        elif name == "BINPERSID":
            stack.pop()
            self.persids += 1
            stack.append(Sym("persid"))
        else:
            return False
        return True


class _Stop(Exception):
    pass


def scan_bytes(data: bytes, **kwargs: Any) -> Scan:
    return Scan(io.BytesIO(data), **kwargs)
