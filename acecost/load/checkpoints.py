"""Checkpoint files, read one tensor at a time: ``.npz``, ``.safetensors``, Flax msgpack, Orbax.

Opening a checkpoint reads only its index (every tensor's key, shape, dtype
and place in the file); :meth:`Checkpoint.read` then reads one tensor from
disk into a fresh array, so iterating a checkpoint never holds more than one
tensor plus a small buffer. Keys are the tensors' paths with ``/`` between
the levels of a nested state (``params/fc1/kernel``).

``.safetensors`` and Flax msgpack are read by offset (``np.fromfile`` into
the array itself): the ``safetensors`` package maps the whole file and copies
each tensor out of the map, which holds twice the tensor, and more as the
pages it touched stay mapped. msgpack is walked by its type bytes, so the
index costs no tensor data and a tensor is read from its bytes in place.
"""
from __future__ import annotations

import json
import logging
import math
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from acecost.errors import ConfigError


@dataclass(frozen=True)
class Tensor:
    """Where one tensor is, and what it is. ``shape`` None: the key holds no array (a number, a string)."""

    shape: tuple[int, ...] | None
    dtype: np.dtype | None
    #: (offset, element count) of each piece of its data in the file (npz and Orbax: empty)
    spans: tuple[tuple[int, int], ...] = ()
    what: str = ""  #: for a key that holds no array: what it holds


class Checkpoint:
    """The index of a checkpoint and a reader of one tensor."""

    format = ""

    def __init__(self, path: str, tensors: dict[str, Tensor]):
        self.path, self.tensors = path, tensors

    def read(self, key: str) -> np.ndarray:
        """The tensor ``key``, read from disk now (nothing is kept between calls)."""
        t = self.tensors[key]
        out = np.empty(math.prod(t.shape), t.dtype)
        done = 0
        try:
            with open(self.path, "rb") as f:
                for offset, count in t.spans:
                    f.seek(offset)
                    if f.readinto(out[done:done + count].view(np.uint8)) != count * t.dtype.itemsize:
                        raise ConfigError(f"weights {self.path}: '{key}' is cut short (the file is truncated)")
                    done += count
        except OSError as e:
            raise self._unreadable(key, e) from None
        return out.reshape(t.shape)

    def _unreadable(self, key: str, e: BaseException) -> ConfigError:
        """A tensor whose index was read but whose data is not (a corrupt or vanished file)."""
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return ConfigError(f"weights {self.path}: '{key}' cannot be read ({type(e).__name__}: {why})"
                           if why else f"weights {self.path}: '{key}' cannot be read ({type(e).__name__})")

    def _bad(self, why: str) -> ConfigError:
        return ConfigError(f"weights {self.path}: not a readable {self.format} file: {why}")


# ---------------------------------------------------------------- .npz


class Npz(Checkpoint):
    """``numpy.savez``/``savez_compressed``: a zip of ``KEY.npy`` members, each read through its stream."""

    format = "npz"

    def __init__(self, path: str):
        super().__init__(path, {})
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        raise self._bad(f"member {info.filename!r} is not a .npy array")
                    with zf.open(info) as fp:
                        shape, dtype = self._header(fp, info.filename)
                    self.tensors[info.filename[:-4]] = Tensor(shape, dtype)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise self._bad(str(e) or type(e).__name__) from None

    def _header(self, fp, name: str):
        fmt = np.lib.format
        try:
            version = fmt.read_magic(fp)
            read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f".npy format version {version} is not read")
            shape, fortran, dtype = read(fp)
        except ValueError as e:
            raise self._bad(f"{name}: {e}") from None
        if dtype.hasobject:
            raise self._bad(f"{name} holds Python objects, not numbers")
        return tuple(shape), dtype

    def read(self, key: str) -> np.ndarray:
        # a zip member is a stream: numpy reads it into the array in 256 KiB pieces; a bad CRC or
        # a broken deflate stream shows only here, at the member's end
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(key + ".npy") as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as e:
            raise self._unreadable(key, e) from None


# ---------------------------------------------------------------- .safetensors

#: safetensors dtype names (https://github.com/huggingface/safetensors, "Format")
SAFETENSORS_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "U32": "uint32",
    "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16", "F32": "float32", "F64": "float64",
    "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}
MAX_HEADER = 100 * 2**20  # the format's own limit


def named_dtype(name: str) -> np.dtype:
    """A dtype by name, the narrow floats (bfloat16, float8_*) included."""
    import ml_dtypes

    try:
        return np.dtype(getattr(ml_dtypes, name, name)).newbyteorder("<")
    except TypeError:
        raise ValueError(f"unknown dtype {name!r}") from None


class SafeTensors(Checkpoint):
    """8 bytes of header length, a JSON header (key -> dtype, shape, data_offsets), the data."""

    format = "safetensors"

    def __init__(self, path: str):
        super().__init__(path, {})
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))
                if not 2 <= n <= min(MAX_HEADER, size - 8):
                    raise ValueError(f"header length {n} does not fit a file of {size} bytes")
                header = json.loads(f.read(n))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise self._bad(str(e)) from None
        if not isinstance(header, dict):
            raise self._bad("the header is not a JSON object")
        start = 8 + n
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            try:
                dtype = named_dtype(SAFETENSORS_DTYPES[entry["dtype"]])
                shape = tuple(int(d) for d in entry["shape"])
                begin, end = (int(x) for x in entry["data_offsets"])
            except (KeyError, TypeError, ValueError) as e:
                raise self._bad(f"tensor {key!r}: bad header entry ({type(e).__name__}: {e})") from None
            count = math.prod(shape)
            if any(d < 0 for d in shape) or end - begin != count * dtype.itemsize or start + end > size:
                raise self._bad(f"tensor {key!r}: its data_offsets do not hold {shape} {dtype.name}")
            self.tensors[key] = Tensor(shape, dtype, ((start + begin, count),))


# ---------------------------------------------------------------- Flax msgpack

_CHUNKED = "__msgpack_chunked_array__"


class _Ext:
    """A msgpack extension object: flax's ndarray (code 1) or numpy scalar (2), else something else."""

    def __init__(self, code: int, tensor: Tensor):
        self.code, self.tensor = code, tensor


class FlaxMsgpack(Checkpoint):
    """``flax.serialization.to_bytes`` / ``msgpack_serialize``: nested maps whose arrays are
    extension objects holding ``(shape, dtype name, data)``; arrays over 1 GiB are split into
    chunks (``__msgpack_chunked_array__``). Walked by type byte: data is seeked past, not read."""

    format = "Flax msgpack"

    def __init__(self, path: str):
        super().__init__(path, {})
        try:
            with open(path, "rb") as f:
                self._f = f
                root = self._value()
                if f.read(1):
                    raise ValueError("data after the end of the state")
        except (OSError, ValueError, struct.error, RecursionError) as e:
            raise self._bad(str(e) or type(e).__name__) from None
        finally:
            self._f = None
        if not isinstance(root, dict):
            raise self._bad("the state is not a map of names")
        self._flatten(root, "")

    def _flatten(self, node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and _CHUNKED in value:
                value = self._unchunk(value, path)
            if isinstance(value, dict):  # an empty one holds no leaf, as in a pytree
                self._flatten(value, path + "/")
            elif isinstance(value, _Ext) and value.code in (1, 2):
                self.tensors[path] = value.tensor
            else:
                what = f"a msgpack extension (code {value.code})" if isinstance(value, _Ext) else type(value).__name__
                self.tensors[path] = Tensor(None, None, what=what)

    def _unchunk(self, node: dict, path: str):
        try:
            shape = tuple(int(node["shape"][str(i)]) for i in range(len(node["shape"])))
            chunks = [node["chunks"][str(i)].tensor for i in range(len(node["chunks"]))]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self._bad(f"'{path}': a chunked array without its shape or chunks") from None
        dtypes = {c.dtype for c in chunks}
        if len(dtypes) != 1 or sum(c.spans[0][1] for c in chunks) != math.prod(shape):
            raise self._bad(f"'{path}': its chunks do not make up an array of shape {shape}")
        return _Ext(1, Tensor(shape, dtypes.pop(), tuple(s for c in chunks for s in c.spans)))

    def _read(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            raise ValueError("the file ends inside a value")
        return data

    def _uint(self, n: int) -> int:
        return int.from_bytes(self._read(n), "big")

    def _value(self, depth: int = 0):
        """The next value; maps and arrays as Python objects, an extension as :class:`_Ext`."""
        if depth > 64:
            raise ValueError("nested too deeply")
        b = self._read(1)[0]
        if b <= 0x7F or b >= 0xE0:
            return b if b <= 0x7F else b - 0x100
        if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
            n = b & 0x0F if b <= 0x8F else self._uint(2 if b == 0xDE else 4)
            out = {}
            for _ in range(n):
                key = self._value(depth + 1)
                out[key.decode() if isinstance(key, bytes) else str(key)] = self._value(depth + 1)
            return out
        if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
            n = b & 0x0F if b <= 0x9F else self._uint(2 if b == 0xDC else 4)
            return [self._value(depth + 1) for _ in range(n)]
        if 0xA0 <= b <= 0xBF or b in (0xD9, 0xDA, 0xDB):
            n = b & 0x1F if b <= 0xBF else self._uint({0xD9: 1, 0xDA: 2, 0xDB: 4}[b])
            return self._read(n).decode("utf-8", "replace")
        if b in (0xC4, 0xC5, 0xC6):  # bin: its bytes (a tensor's data is read inside an extension only)
            return self._read(self._uint({0xC4: 1, 0xC5: 2, 0xC6: 4}[b]))
        if b in (0xC0, 0xC2, 0xC3):
            return {0xC0: None, 0xC2: False, 0xC3: True}[b]
        fixed = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
        if b in fixed:
            return struct.unpack(fixed[b], self._read(struct.calcsize(fixed[b])))[0]
        if 0xD4 <= b <= 0xD8 or b in (0xC7, 0xC8, 0xC9):
            n = 1 << (b - 0xD4) if b >= 0xD4 else self._uint({0xC7: 1, 0xC8: 2, 0xC9: 4}[b])
            code = self._read(1)[0]
            end = self._f.tell() + n
            tensor = self._array() if code in (1, 2) else Tensor(None, None)
            self._f.seek(end)
            return _Ext(code, tensor)
        raise ValueError(f"byte 0x{b:02x} at {self._f.tell() - 1} starts no msgpack value")

    def _array(self) -> Tensor:
        """flax's ndarray payload: a msgpack array ``[shape, dtype name, data]``; the data is skipped."""
        if self._read(1)[0] != 0x93:
            raise ValueError("an ndarray extension that is not [shape, dtype, data]")
        shape, name = self._value(), self._value()
        name = name.decode() if isinstance(name, bytes) else name
        b = self._read(1)[0]
        if b not in (0xC4, 0xC5, 0xC6):
            raise ValueError("an ndarray extension without its data")
        n = self._uint({0xC4: 1, 0xC5: 2, 0xC6: 4}[b])
        dtype = named_dtype(str(name))
        shape = tuple(int(d) for d in shape)
        count = math.prod(shape)
        if n != count * dtype.itemsize:
            raise ValueError(f"an ndarray of {shape} {dtype.name} with {n} bytes of data")
        offset = self._f.tell()
        self._f.seek(offset + n)
        return Tensor(shape, dtype, ((offset, count),))


# ---------------------------------------------------------------- Orbax


class Orbax(Checkpoint):
    """An Orbax PyTree checkpoint directory: the index from its metadata, a tensor by a
    partial restore of that one leaf."""

    format = "Orbax"

    def __init__(self, path: str):
        super().__init__(path, {})
        import jax
        import orbax.checkpoint as ocp

        from acecost.load.trace import path_str

        absl = logging.getLogger("absl")
        level = absl.level
        absl.setLevel(logging.ERROR)  # orbax logs a warning, then returns no tree, for missing metadata
        try:
            meta = ocp.PyTreeCheckpointer().metadata(os.path.abspath(path))
        except Exception as e:  # noqa: BLE001 - orbax's own errors, of many kinds
            raise self._bad(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}") \
                from None
        finally:
            absl.setLevel(level)
        tree = getattr(meta, "item_metadata", meta)
        tree = getattr(tree, "tree", tree)
        if tree is None:
            raise self._bad("it holds no PyTree metadata (its _METADATA file is missing or unreadable)")
        self._keys: dict[str, tuple] = {}
        for keys, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            name = path_str(keys)
            shape, dtype = getattr(leaf, "shape", None), getattr(leaf, "dtype", None)
            if shape is None or dtype is None:
                self.tensors[name] = Tensor(None, None, what=type(leaf).__name__)
                continue
            self.tensors[name] = Tensor(tuple(shape), np.dtype(dtype))
            self._keys[name] = tuple(keys)

    def read(self, key: str) -> np.ndarray:
        import jax
        import orbax.checkpoint as ocp

        keys = self._keys[key]
        if not all(isinstance(k, jax.tree_util.DictKey) for k in keys):
            raise ConfigError(f"weights {self.path}: '{key}' sits in a list, which is not read one leaf "
                              "at a time; save the parameters as nested dicts")
        t = self.tensors[key]
        item: object = jax.ShapeDtypeStruct(t.shape, t.dtype)
        for k in reversed(keys):
            item = {k.key: item}
        restore = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
        try:
            out = ocp.PyTreeCheckpointer().restore(os.path.abspath(self.path), args=ocp.args.PyTreeRestore(
                item=item, restore_args=restore, partial_restore=True))
        except Exception as e:  # noqa: BLE001 - orbax and tensorstore raise errors of many kinds
            raise self._unreadable(key, e) from None
        for k in keys:
            out = out[k.key]
        return np.asarray(out)


# ---------------------------------------------------------------- which

FORMATS: dict[str, Callable[[str], Checkpoint]] = {
    ".npz": Npz, ".safetensors": SafeTensors, ".msgpack": FlaxMsgpack, ".flax": FlaxMsgpack,
}


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The checkpoint at ``path``, by its name: ``.npz``, ``.safetensors``, ``.msgpack`` (or
    ``.flax``) or an Orbax directory; only its index is read."""
    path = os.fspath(path)
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"weights {path}: no such file or directory")
    if p.is_dir():
        if not any((p / n).exists() for n in ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt")):
            raise ConfigError(f"weights {path}: a directory that is no Orbax checkpoint (it has no "
                              "_METADATA; give the directory of one step's PyTree checkpoint)")
        return Orbax(path)
    reader = FORMATS.get(p.suffix.lower())
    if reader is None:
        raise ConfigError(f"weights {path}: unknown format {p.suffix or '(no suffix)'!r}: expected .npz, "
                          ".safetensors, .msgpack (Flax) or an Orbax checkpoint directory")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"weights {path}: permission denied")
    return reader(path)
