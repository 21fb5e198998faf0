"""A dashboard's JSON checked against Grafana's dashboard schema as grafana-foundation-sdk types
it.

The SDK ships no JSON Schema and no validator: its models (``grafana_foundation_sdk.models``)
are generated from Grafana's own schemas (the dashboard kind and each panel and data source
plugin's), each with ``from_json``/``to_json``. ``problems`` uses them three ways:

1. the JSON is decoded into the typed model with the SDK's plugins registered, and every panel
   must come out as a plugin the SDK knows (its options and custom field config decoded into
   that plugin's types) and every query as a Prometheus dataquery;
2. every attribute of every decoded object must match the SDK's annotation for it (enums hold
   one of their values, ``int``/``float``/``str``/``bool``, lists, unions, nested types), as
   ``from_json`` copies values without checking them;
3. the model encoded back must equal the JSON: a key the schema does not have is dropped by
   ``from_json`` and a required one missing comes back with its default, so either shows as a
   difference.
"""

import enum
import json
import types
import typing
from collections.abc import Iterator
from typing import Any

from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus

__all__ = ["check_dashboard", "parse", "problems"]

SDK_MODELS = "grafana_foundation_sdk.models."


def parse(data: dict[str, Any]) -> models.Dashboard:
    """The SDK's typed model of a dashboard's JSON (panel options, field configs and queries
    decoded by the SDK's plugins)."""
    register_default_plugins()
    return models.Dashboard.from_json(data)


def problems(data: dict[str, Any]) -> list[str]:
    """What in a dashboard's JSON does not fit the SDK's model, one line each (``path: what``);
    empty when it fits."""
    model = parse(data)
    found = list(_unknown_plugins(model))
    found += _type_problems(model, models.Dashboard, "dashboard")
    encoded = json.loads(json.dumps(model, cls=JSONEncoder))
    found += _differences(data, encoded, "dashboard")
    return found


def check_dashboard(data: dict[str, Any]) -> None:
    """Raise ValueError listing the problems of a dashboard's JSON, if any."""
    found = problems(data)
    if found:
        raise ValueError("the dashboard does not fit Grafana's schema (grafana-foundation-sdk):"
                         "\n  " + "\n  ".join(found))


def _panels(model: models.Dashboard) -> Iterator[models.Panel]:
    for panel in model.panels or []:
        if isinstance(panel, models.RowPanel):
            yield from panel.panels
        else:
            yield panel


def _unknown_plugins(model: models.Dashboard) -> Iterator[str]:
    for panel in _panels(model):
        where = f"panel {panel.title!r}"
        config = runtime.panelcfg_config(panel.type_val)
        if config is None:
            yield f"{where}: panel type {panel.type_val!r} is not one the SDK knows"
            continue
        if panel.options is not None and isinstance(panel.options, dict):
            yield f"{where}: options not decoded as {panel.type_val} options"
        for target in panel.targets or []:
            if not isinstance(target, prometheus.Dataquery):
                yield f"{where}: a query that is not a Prometheus dataquery: {target!r}"


def _is_model(value: object) -> bool:
    return type(value).__module__.startswith(SDK_MODELS)


def _type_problems(value: object, hint: Any, path: str) -> list[str]:
    """Where ``value`` (decoded by the SDK) does not match the annotation ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return []
        for option in options:  # a decoded object: its own type's problems
            if isinstance(option, type) and _is_model(value) and isinstance(value, option):
                return _type_problems(value, option, path)
        attempts = [_type_problems(value, option, path) for option in options
                    if option is not type(None)]
        if any(not attempt for attempt in attempts):
            return []
        return attempts[0] if len(attempts) == 1 else [f"{path}: {value!r} is none of {hint}"]
    if origin is typing.Literal:
        literals = typing.get_args(hint)
        return [] if value in literals else [f"{path}: {value!r} is not one of {literals}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        (item,) = typing.get_args(hint)
        return [problem for index, element in enumerate(value)
                for problem in _type_problems(element, item, f"{path}[{index}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        _, item = typing.get_args(hint)
        return [problem for key, element in value.items()
                for problem in _type_problems(element, item, f"{path}.{key}")]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [member.value for member in hint]
        ok = value in allowed and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not one of {allowed}"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if hint in (int, float):
        numeric = (int,) if hint is int else (int, float)
        ok = isinstance(value, numeric) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not of type {hint.__name__}"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path}: {value!r} is not a string"]
    if isinstance(hint, type) and hint is not object and not isinstance(value, hint):
        return [f"{path}: {value!r} is not of type {hint.__name__}"]
    if _is_model(value):  # a model, also where the annotation is ``object`` (panel options)
        return [problem for name, attribute in typing.get_type_hints(type(value)).items()
                for problem in _type_problems(getattr(value, name), attribute,
                                              f"{path}.{name}")]
    return []


def _differences(given: Any, encoded: Any, path: str) -> list[str]:
    """Where the JSON and the model encoded back differ. An absent ``fieldConfig.defaults.custom``
    (optional) is not one: ``from_json`` decodes it as the panel plugin's default field config."""
    if isinstance(given, dict) and isinstance(encoded, dict):
        found = [f"{path}.{key}: not in Grafana's schema" for key in given
                 if key not in encoded]
        found += [f"{path}.{key}: missing (the schema's default is {encoded[key]!r})"
                  for key in encoded if key not in given
                  and not (key == "custom" and path.endswith(".fieldConfig.defaults"))]
        return found + [problem for key in given.keys() & encoded.keys()
                        for problem in _differences(given[key], encoded[key], f"{path}.{key}")]
    if isinstance(given, list) and isinstance(encoded, list) and len(given) == len(encoded):
        return [problem for index, (a, b) in enumerate(zip(given, encoded, strict=True))
                for problem in _differences(a, b, f"{path}[{index}]")]
    return [] if given == encoded else [f"{path}: {given!r} reads back as {encoded!r}"]
