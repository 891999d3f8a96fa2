"""What one point builds: a model file, ``pkg.module:attr``, a zoo family or a callable.

A :class:`ModelSpec` is small and picklable; :class:`LoadedModel` is what a
worker keeps after importing it once, and builds a :class:`Target` per
point from the point's parameters. Parameters go to ``acecost_model(**config)``
(or the ``--entry`` function, or a Flax linen Module class's fields); zoo
families take their own (``zoo:pokebnn`` a ``width``, ``zoo:resnet50``
``abits``/``wbits``).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from acecost.errors import TargetError


@dataclass(frozen=True)
class ZooFamily:
    """A bundled architecture with parameters (defaults = the plain zoo entry)."""

    params: dict[str, Any]
    make: Callable[..., Any]


def _pokebnn(width=1.0):
    from acecost import zoo

    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise TargetError(f"width must be a positive number, got {width!r}")
    return zoo.pokebnn(float(width), name=f"pokebnn-{width}x")


def _resnet50(abits=None, wbits=None):
    from acecost import zoo

    if (abits is None) != (wbits is None):
        raise TargetError("give both abits and wbits (or neither, for the bfloat16 model)")
    for v in (abits, wbits):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise TargetError(f"abits and wbits must be positive integers, got {v!r}")
    if abits is None:
        return zoo.resnet_variant("bf16", None)
    return zoo.resnet_variant(f"w{wbits}a{abits}", (abits, wbits))


#: Zoo names that take parameters in a sweep.
ZOO_FAMILIES: dict[str, ZooFamily] = {
    "pokebnn": ZooFamily({"width": 1.0}, _pokebnn),
    "resnet50": ZooFamily({"abits": None, "wbits": None}, _resnet50),
}


@dataclass(frozen=True)
class ModelSpec:
    """The model as the user named it; ``files`` carries its sources to remote workers."""

    spec: str = ""
    entry: str | None = None
    fn: Callable | None = field(default=None, compare=False)
    #: (path relative to the model's directory, text) of the model file and its local imports
    files: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, spec: str, entry: str | None = None) -> "ModelSpec":
        """``model.py:attr`` names the entry as ``--entry attr`` does."""
        file_part, colon, attr = spec.rpartition(":")
        if colon and file_part.endswith(".py") and not Path(spec).exists():
            if entry is not None and entry != attr:
                raise TargetError(f"{spec} names {attr!r} and --entry names {entry!r}: give one")
            return cls(file_part, attr or entry)
        return cls(spec, entry)

    @property
    def label(self) -> str:
        if self.fn is not None:
            return getattr(self.fn, "__qualname__", repr(self.fn))
        return self.spec

    @property
    def is_file(self) -> bool:
        return self.fn is None and not self.spec.startswith("zoo:") and \
            (self.spec.endswith(".py") or Path(self.spec).is_file())

    def shipped(self) -> "ModelSpec":
        """A copy that carries its sources, for workers that may not see this file system."""
        if not self.is_file:
            return self
        from acecost.sweeps.cache import local_sources

        root = Path(self.spec).resolve().parent
        files = tuple((str(p.relative_to(root)), p.read_text(encoding="utf-8"))
                      for p in local_sources(Path(self.spec)))
        return ModelSpec(self.spec, self.entry, None, files)


class LoadedModel:
    """A model imported once; :meth:`build` makes the Target of one point."""

    def __init__(self, spec: ModelSpec):
        from acecost.load import resolve as tg

        self.spec = spec
        self.kind = "fn"
        self.obj: Any = spec.fn
        self.label = spec.label
        self.module = None
        self.base, self.name = spec.spec, spec.label
        self.sources: dict = {}  # module name -> (file, digest, imported by the model): see sweeps.sources
        if spec.fn is not None:
            if not callable(spec.fn):
                raise TargetError(f"the model must be a callable or a target string, got {type(spec.fn).__name__}")
            self.base = getattr(spec.fn, "__module__", None) or "model"
            self.name = getattr(spec.fn, "__name__", None) or "model"
            return
        if spec.spec.startswith("zoo:"):
            name = spec.spec[4:]
            if name in ZOO_FAMILIES:
                self.kind, self.obj = "family", ZOO_FAMILIES[name]
            else:
                from acecost import zoo

                self.kind, self.obj = "zoo", zoo.get(name)
            return
        if spec.is_file:
            path = _materialise(spec)
            self.module = tg.load_file(path)
        elif ":" in spec.spec or "." in spec.spec:
            mod_name, _, attr = spec.spec.partition(":")
            self.module = tg.import_model_module(mod_name)
            spec = ModelSpec(spec.spec, spec.entry or attr or None)
            self.base = mod_name
        else:
            raise TargetError(f"no such file: {spec.spec} (a target is a .py file, pkg.module:attr or zoo:NAME)")
        name = self.name = spec.entry or tg.ENTRY_FUNCTION
        if hasattr(self.module, name):
            self.obj = getattr(self.module, name)
            self.label = f"{self.base}:{name}"
            self.kind = "linen" if _is_linen_class(self.obj) else "fn" if callable(self.obj) else "other"
        elif spec.entry:
            raise TargetError(f"{self.spec.spec} has no {spec.entry!r}")
        else:
            self.kind = "discover"  # a lone Flax Module, found as `analyze` finds it; no parameters

    def parameters(self) -> dict[str, Any] | None:
        """Accepted parameter names and their defaults; None when any keyword is accepted."""
        if self.kind == "family":
            return dict(self.obj.params)
        if self.kind in ("zoo", "discover", "other"):
            return {}
        if self.kind == "linen":
            import dataclasses

            return {f.name: f.default for f in dataclasses.fields(self.obj)
                    if f.init and f.name not in ("parent", "name")}
        sig = inspect.signature(self.obj)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        return {n: p.default for n, p in sig.parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def build(self, params: dict, options: dict):
        """The Target of one point (``options``: the build-stage options)."""
        from acecost.load import resolve as tg

        if self.kind == "family":
            return self.obj.make(**params).build(**options)
        if self.kind == "zoo":
            return self.obj.build(**options)
        input_shape, dtype = options.get("input_shape"), options.get("dtype", "float32")
        if self.kind == "discover":
            return tg.from_module(self.module, self.spec.spec, None, input_shape, dtype)
        if self.kind == "linen":
            try:
                instance = self.obj(**params)
            except TypeError as exc:
                raise TargetError(f"{self.label}: {exc}") from None
            return tg.module_target(instance, input_shape, dtype, label=self.label)
        if self.kind == "other":
            raise TargetError(f"{self.label} is a {type(self.obj).__name__}, not a function or Flax Module")
        path = Path(self.module.__file__) if getattr(self.module, "__file__", None) else None
        return tg.call_entry(functools.partial(self.obj, **params), self.base, self.name, path)


def _is_linen_class(obj) -> bool:
    try:
        import flax.linen as nn
    except ImportError:  # pragma: no cover
        return False
    return inspect.isclass(obj) and issubclass(obj, nn.Module)


def _materialise(spec: ModelSpec) -> Path:
    """The model file to import: the user's own, or a copy of the shipped sources when it differs."""
    path = Path(spec.spec)
    if not spec.files:
        return path
    main = path.name
    texts = dict(spec.files)
    try:
        if path.read_text(encoding="utf-8") == texts.get(main):
            return path
    except OSError:
        pass
    digest = hashlib.sha256(repr(sorted(spec.files)).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"acecost-sweep-{digest}"
    for rel, text in spec.files:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            dest.write_text(text, encoding="utf-8")
    return root / main
