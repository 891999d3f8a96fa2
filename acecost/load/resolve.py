"""Load what the user names -> a :class:`~acecost.load.target.Target`.

A target is a Python file (``model.py``), an importable ``pkg.module:attr``
or a bundled ``zoo:NAME``. A file or module offers one of:

* ``acecost_model()`` returning ``(fn, args)`` or a :class:`Target`;
* a Flax linen Module (instance, or class with no required fields), used
  with an input shape: variables come from ``jax.eval_shape(module.init)``;
* a Flax NNX Module class whose constructor takes only ``rngs``, likewise;
* a Keras 3 model: ``acecost_model()`` returning ``(model, inputs)``, or a
  built model instance with an input shape (:mod:`acecost.load.keras`;
  ``KERAS_BACKEND`` is set to ``jax`` before model code is imported).

Importing a model file runs its top-level code (definitions); nothing here
runs the model on data. A model file imports modules beside it as under
``python model.py``: its directory is put first on ``sys.path`` and stays
there (a model may import a helper lazily, in ``acecost_model()`` or while
traced); a ``module:attr`` target is imported from the current directory.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

from acecost.errors import TargetError
from acecost.load.keras import is_keras_model, keras_entry, keras_target, use_jax_backend
from acecost.load.locate import one_line, syntax_where as _syntax_where, user_frames, where as _where
from acecost.load.target import ENTRY_FUNCTION, Target


def parse_shape(text) -> tuple[int, ...]:
    """``"1,224,224,3"`` -> (1, 224, 224, 3), by the parser the CLI and config use."""
    from acecost.errors import ConfigError
    from acecost.options import parse_input_shape

    try:
        return parse_input_shape(text, "input shape")
    except ConfigError as exc:
        raise TargetError(str(exc)) from None


def resolve(spec: str, entry: str | None = None, input_shape=None, dtype: str | None = None,
            params: dict | None = None, **zoo_options) -> Target:
    """The :class:`Target` for a file path, ``file.py:attr``, ``module:attr`` or ``zoo:NAME``.

    An option the target would ignore is an error, not a silent default:
    ``--input-shape`` on a zoo model, ``--batch`` on a model file, a
    ``params`` keyword (``--param``) its entry does not take.
    """
    zoo_given = [k for k, v in zoo_options.items() if v is not None]
    if spec.startswith("zoo:") and params:
        raise TargetError(f"{spec} takes no --param {next(iter(params))} (a zoo model takes --resolution and "
                          "--batch; a sweep varies the zoo families' parameters)")
    if spec.startswith("zoo:"):
        for what, value in (("--entry", entry), ("--input-shape", input_shape), ("--dtype", dtype)):
            if value is not None:
                raise TargetError(f"{spec} does not use {what} (a zoo model takes --resolution and --batch)")
        from acecost import zoo

        return zoo.get(spec[4:]).build(**{k: v for k, v in zoo_options.items() if v is not None})
    if zoo_given:
        raise TargetError(f"--{zoo_given[0]} applies to zoo models only, not to {spec}")
    path = Path(spec)
    file_part, colon, attr = spec.rpartition(":")
    if colon and file_part.endswith(".py") and not path.exists():  # model.py:attr
        if entry is not None and entry != attr:
            raise TargetError(f"{spec} names {attr!r} and --entry names {entry!r}: give one")
        path, entry = Path(file_part), attr or entry
    if str(path).endswith(".py") or path.exists():
        module = load_file(path)
        label = str(path)
    elif ":" in spec or "." in spec:
        mod_name, _, attr = spec.partition(":")
        module = import_model_module(mod_name)
        entry = entry or attr or None
        label = spec
    else:
        raise TargetError(f"no such file: {spec} (a target is a .py file, pkg.module:attr or zoo:NAME)")
    return from_module(module, label, entry, input_shape, dtype, params)


@contextlib.contextmanager
def _model_code():
    """Importing user code writes no ``__pycache__`` beside it."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved


def import_model_module(mod_name: str):
    """The module of a ``pkg.module:attr`` target, importable from the current directory."""
    try:
        with _model_code():
            importable(Path.cwd())
            use_jax_backend()
            return importlib.import_module(mod_name)
    except SystemExit as exc:
        raise TargetError(f"{mod_name}: the model called sys.exit({exc.code!r}) while importing") from None
    except Exception as exc:
        if isinstance(exc, SyntaxError) and exc.filename:
            at = f" ({_syntax_where(exc, None)})"
        else:  # the line in the user's package that raised, if it is the user's
            at = f" ({_where(exc, None)})" if user_frames(exc, None) else ""
        raise TargetError(f"cannot import {mod_name!r}{at}: {type(exc).__name__}: {one_line(exc)}") from exc


#: directories put on sys.path for model code, so a helper of one is not taken for another's
_MODEL_DIRS: list[str] = []


def importable(directory: Path) -> None:
    """Let model code import the modules in ``directory``, as ``python model.py`` would.

    The directory goes first on ``sys.path`` and stays: a model may import a
    helper lazily, inside ``acecost_model()`` or while it is traced. A helper
    already imported from another model's directory under a name this one
    also holds (two ``quantlib.py``) is dropped from ``sys.modules`` so this
    model imports its own; models loaded before keep theirs.
    """
    directory = directory.resolve()
    where = str(directory)
    others = [d for d in _MODEL_DIRS if d != where]
    try:
        here = {n[:-3] if n.endswith(".py") else n for n in os.listdir(directory)} if others else set()
    except OSError:
        here = set()
    for name in here & set(sys.modules):
        file = getattr(sys.modules[name], "__file__", None)
        if not file:
            continue
        home = Path(file).resolve().parent
        home = home.parent if Path(file).name == "__init__.py" else home
        if str(home) in others:
            for sub in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
                del sys.modules[sub]
    if where in sys.path:
        sys.path.remove(where)
    sys.path.insert(0, where)
    if where not in _MODEL_DIRS:
        _MODEL_DIRS.append(where)


def load_file(path: Path):
    if not path.exists():
        raise TargetError(f"no such file: {path}")
    if path.is_dir() or path.suffix != ".py":
        raise TargetError(f"not a Python file: {path}")
    # a name that is the same in every run, so messages and reports are too
    name = "acecost_model_" + hashlib.sha1(os.fsencode(path.resolve())).hexdigest()[:16]
    importable(path.resolve().parent)
    use_jax_backend()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _model_code():
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise TargetError(f"{_syntax_where(exc, path)}: {type(exc).__name__}: {one_line(exc.msg)}") from exc
    except ModuleNotFoundError as exc:
        hint = f" (install it into this environment, e.g. pip install 'acecost[{exc.name}]')" \
            if exc.name in ("equinox", "qwix", "aqt") else " (install it into this environment)"
        raise TargetError(f"{_where(exc, path)}: {type(exc).__name__} while importing: {one_line(exc)}{hint}") \
            from exc
    except SystemExit as exc:
        raise TargetError(f"{_where(exc, path)}: the model called sys.exit({exc.code!r}) while importing") \
            from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B036 - anything else the model raises is the model's error
        raise TargetError(f"{_where(exc, path)}: {type(exc).__name__} while importing: {one_line(exc)}") from exc
    return module


def from_module(module, label: str, entry: str | None, input_shape, dtype: str,
                params: dict | None = None) -> Target:
    path = Path(module.__file__) if getattr(module, "__file__", None) else None
    if entry:
        if not hasattr(module, entry):
            raise TargetError(f"{label} has no {entry!r} (found: {', '.join(_candidates(module)) or 'nothing usable'})")
        obj = getattr(module, entry)
    elif hasattr(module, ENTRY_FUNCTION):
        obj = getattr(module, ENTRY_FUNCTION)
    else:
        modules = [n for n, o in vars(module).items() if _is_module(o) and _defined_in(o, module)]
        if len(modules) != 1:
            found = f"several Modules ({', '.join(modules)}); pick one with --entry" if modules else \
                "no acecost_model() function and no Flax Module"
            raise TargetError(f"no entry point in {label}: looked for {ENTRY_FUNCTION}() or a Flax "
                              f"Module; found {found}")
        obj = getattr(module, modules[0])
        entry = modules[0]
    name = entry or ENTRY_FUNCTION
    if params:
        obj = _with_params(obj, params, f"{label}:{name}")
    if _is_module(obj):
        return module_target(obj, input_shape, dtype, label=f"{label}:{name}")
    if is_keras_model(obj):
        return keras_target(obj, _input_struct(input_shape, dtype, f"{label}:{name}", "a Keras model"),
                            name=f"{label}:{name}")
    if callable(obj):
        for what, value in (("--input-shape", input_shape), ("--dtype", dtype)):
            if value is not None:
                raise TargetError(f"{label}:{name} does not use {what}: it is a function that builds its own "
                                  "inputs (the option is for Flax Modules)")
        return call_entry(obj, label, name, path)
    raise TargetError(f"{label}:{name} is a {type(obj).__name__}, not a function or Flax Module")


def _with_params(obj, params: dict, label: str):
    """``obj`` given the keyword arguments ``params`` (``--param``), as a sweep gives a point's:
    an entry function called with them, a Flax linen Module class made with them as fields.
    A keyword it does not take is an error naming it, before the model is built."""
    linen = sys.modules.get("flax.linen")
    if linen is not None and inspect.isclass(obj) and issubclass(obj, linen.Module):
        import dataclasses

        taken = [f.name for f in dataclasses.fields(obj) if f.init and f.name not in ("parent", "name")]
        anything = False
    elif callable(obj) and not _is_module(obj) and not is_keras_model(obj) and not inspect.isclass(obj):
        try:
            parameters = list(inspect.signature(obj).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        taken = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        anything = any(p.kind is p.VAR_KEYWORD for p in parameters)
    else:
        what = "a class" if inspect.isclass(obj) else f"a {type(obj).__name__}"
        raise TargetError(f"{label} takes no --param: it is {what}; --param passes keywords to an entry "
                          "function or a Flax linen Module class")
    unknown = [k for k in params if k not in taken and not anything]
    if unknown:
        takes = f"it takes {', '.join(taken)}" if taken else "it takes no parameters"
        raise TargetError(f"{label} takes no parameter {unknown[0]!r} (--param {unknown[0]}): {takes}")
    if inspect.isclass(obj):
        try:
            return obj(**params)
        except TypeError as exc:
            raise TargetError(f"{label}: {exc}") from None
    return functools.partial(obj, **params)


def _candidates(module) -> list[str]:
    return [n for n, o in vars(module).items()
            if not n.startswith("_") and (callable(o) or _is_module(o)) and _defined_in(o, module)]


def _defined_in(obj, module) -> bool:
    owner = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    return getattr(owner, "__module__", None) == module.__name__


def _is_module(obj) -> bool:
    """A Flax linen or NNX Module (class or instance).

    Only the Flax modules already imported are asked: an object can only be
    an instance of a class that was loaded, and a model file that never
    imports Flax does not pay for importing it here.
    """
    bases = tuple(m.Module for m in (sys.modules.get("flax.linen"), sys.modules.get("flax.nnx"))
                  if m is not None and hasattr(m, "Module"))
    if not bases:
        return False
    cls = obj if inspect.isclass(obj) else type(obj)
    return issubclass(cls, bases)


def call_entry(fn, label, name, path) -> Target:
    """The target an entry function (``acecost_model()``) returns, called with no arguments."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    required = [p for p in parameters
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required:
        raise TargetError(f"{label}:{name} takes arguments ({', '.join(p.name for p in required)}); "
                          f"an entry must be callable with none and return (fn, args) or acecost.Target")
    try:
        with _model_code():
            result = fn()
    except SystemExit as exc:
        raise TargetError(f"{_where(exc, path, 'called')}: {name}() called sys.exit({exc.code!r})") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B036
        raise TargetError(f"{_where(exc, path, 'called')}: {name}() raised {type(exc).__name__}: {one_line(exc)}") \
            from exc
    keras = keras_entry(result, f"{label}:{name}")
    if keras is not None:
        return keras
    if isinstance(result, Target):
        result.name = result.name or f"{label}:{name}"
        return _lifted(result, path)
    if isinstance(result, tuple) and len(result) == 2 and callable(result[0]):
        fn_, args = result
        return _lifted(Target(fn_, args if isinstance(args, tuple) else (args,), name=f"{label}:{name}"), path)
    got = f"a {len(result)}-tuple" if isinstance(result, tuple) else type(result).__name__
    if isinstance(result, tuple) and len(result) == 2:
        got = f"a pair whose first item is a {type(result[0]).__name__}, not a function"
    raise TargetError(f"{label}:{name}() must return (fn, args) or acecost.Target, got {got}")


def _lifted(target: Target, path) -> Target:
    """The target, with weights it closes over as jax.ShapeDtypeStruct made arguments (acecost.load.lift)."""
    from acecost.load.lift import lift

    try:
        with _model_code():
            return lift(target)
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        raise TargetError(f"{_where(exc, path, 'called')}: {target.name} called sys.exit({exc.code!r})") from None


def module_target(obj, input_shape, dtype: str | None, label: str) -> Target:
    """Abstract variables for a Flax Module and a Target applying it."""
    import jax
    import flax.linen as nn

    x = _input_struct(input_shape, dtype, label, "a Flax Module")
    shape, dtype = x.shape, str(x.dtype)
    cls = obj if inspect.isclass(obj) else None
    if cls is not None and issubclass(cls, nn.Module):
        try:
            obj = cls()
        except TypeError as exc:
            raise TargetError(f"{label} needs constructor arguments ({exc}); define acecost_model() "
                              "or pass an instance with --entry") from None
    if isinstance(obj, nn.Module):
        try:
            variables = jax.eval_shape(obj.init, jax.random.key(0), x)
        except Exception as exc:
            raise TargetError(f"{label} does not accept an input of shape {shape} {dtype}: "
                              f"{type(exc).__name__}: {_first_line(exc)}") from exc
        return Target(lambda v, inp: obj.apply(v, inp), (variables, x), name=label)
    return _nnx_target(obj, x, label)


def _input_struct(input_shape, dtype: str | None, label: str, what: str):
    """The abstract input ``--input-shape`` and ``--dtype`` give a Module or a Keras model."""
    import jax
    import jax.numpy as jnp

    if input_shape is None:
        raise TargetError(f"{label} is {what}: give its input shape, e.g. --input-shape 1,224,224,3")
    shape = parse_shape(input_shape)
    dtype = dtype or "float32"
    try:
        return jax.ShapeDtypeStruct(shape, jnp.dtype(dtype))
    except (TypeError, ValueError):
        raise TargetError(f"unknown dtype {dtype!r}") from None


def _nnx_target(obj, x, label) -> Target:
    import jax
    from flax import nnx

    try:
        model = nnx.eval_shape(lambda: obj(rngs=nnx.Rngs(0))) if inspect.isclass(obj) else obj
    except TypeError as exc:
        raise TargetError(f"{label}: an NNX Module class must be constructible as Cls(rngs=...); "
                          f"define acecost_model() instead ({exc})") from None
    graphdef, state = nnx.split(model)

    def apply(state, inp):
        return nnx.merge(graphdef, state)(inp)

    try:
        jax.eval_shape(apply, state, x)
    except Exception as exc:
        raise TargetError(f"{label} does not accept an input of shape {x.shape} {x.dtype}: "
                          f"{type(exc).__name__}: {_first_line(exc)}") from exc
    return Target(apply, (state, x), name=label)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
