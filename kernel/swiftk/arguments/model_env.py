"""Model-specific parameters (the page's "特定模型参数").

Model plugins read them with :func:`get_model_arg`: the value comes from ``--model_kwargs``
(key in lower case, e.g. ``{"fps_max_frames": 12}``), else from the environment variable of the
upper-case name (``FPS_MAX_FRAMES=12``), else the default, converted to ``type`` (or to the
default's type).

How ``--model_kwargs`` reaches it: the pipeline calls :func:`set_model_kwargs` with the parsed
``model_kwargs`` once, before loading the model; a caller may also pass ``model_kwargs=``
explicitly.  Every value read is recorded, so the pipeline can log the model-specific
parameters in effect (:func:`used_model_args`) and warn about keys no model read
(:func:`unused_model_kwargs`).  The known names and defaults are listed in
:data:`swiftk.arguments.commands.MODEL_ENV_VARS`.
"""

from __future__ import annotations

import builtins
import json
import os
from typing import Any, Callable, Dict, List, Optional, Union

from swiftk.errors import UsageError

__all__ = ["get_model_arg", "set_model_kwargs", "get_model_kwargs", "used_model_args", "unused_model_kwargs"]

_current: Dict[str, Any] = {}
_used: Dict[str, Any] = {}

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


def set_model_kwargs(model_kwargs: Union[Dict[str, Any], str, None]) -> None:
    """Set the current ``--model_kwargs`` (a dict, a JSON object string, or None to clear)."""
    global _current
    if isinstance(model_kwargs, str):
        try:
            model_kwargs = json.loads(model_kwargs)
        except ValueError as e:
            raise UsageError(f"--model_kwargs must be a JSON object, got {model_kwargs!r} ({e})") from None
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise UsageError(f"--model_kwargs must be a JSON object, got {model_kwargs!r}")
    _current = {str(k).lower(): v for k, v in (model_kwargs or {}).items()}
    _used.clear()


def get_model_kwargs() -> Dict[str, Any]:
    """The current ``--model_kwargs`` (keys in lower case)."""
    return dict(_current)


def used_model_args() -> Dict[str, Any]:
    """``{NAME: value}`` of every model-specific parameter read since :func:`set_model_kwargs`."""
    return dict(_used)


def unused_model_kwargs() -> List[str]:
    """Keys of the current ``--model_kwargs`` that no :func:`get_model_arg` call has read."""
    return [k for k in _current if k.upper() not in _used]


def _convert(raw: Any, to: Any, source: str) -> Any:
    if to is None:
        return raw
    if to is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise UsageError(f"{source} must be true or false, got {raw!r}")
    if to is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise UsageError(f"{source} must be an integer, got {raw!r}") from None
    if to is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(str(raw).strip())
        except ValueError:
            raise UsageError(f"{source} must be a number, got {raw!r}") from None
    if to is str:
        return raw if isinstance(raw, str) else json.dumps(raw)
    if to in (dict, list, "json"):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise UsageError(f"{source} must be JSON, got {raw!r}") from None
        if to in (dict, list) and not isinstance(raw, to):
            raise UsageError(f"{source} must be a JSON {'object' if to is dict else 'array'}, got {raw!r}")
        return raw
    if callable(to):
        try:
            return to(raw)
        except (TypeError, ValueError) as e:
            raise UsageError(f"{source}: invalid value {raw!r} ({e})") from None
    raise TypeError(f"get_model_arg: unsupported type {to!r}")


def get_model_arg(
    name: str,
    default: Any = None,
    *,
    model_kwargs: Optional[Dict[str, Any]] = None,
    type: Union[type, Callable[[Any], Any], str, None] = None,
) -> Any:
    """A model-specific parameter: ``model_kwargs[name.lower()]``, else ``$NAME``, else ``default``.

    ``type`` is ``int``, ``float``, ``bool``, ``str``, ``dict``/``list``/``"json"`` (JSON text
    is decoded) or any callable; None converts to the type of ``default`` (no conversion when
    ``default`` is None).  A value that does not convert raises a :class:`UsageError` naming
    the ``--model_kwargs`` key or the environment variable.
    """
    kwargs = _current if model_kwargs is None else {str(k).lower(): v for k, v in model_kwargs.items()}
    key, env = name.lower(), name.upper()
    to = type if type is not None else (builtins.type(default) if default is not None else None)
    if key in kwargs:
        value = _convert(kwargs[key], to, f"--model_kwargs {key}")
    elif env in os.environ:
        value = _convert(os.environ[env], to, f"environment variable {env}")
    else:
        value = default
    _used[env] = value
    return value
