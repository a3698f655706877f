"""Check entries: the common fields plus the parameters of the probe kind.

One model per registered probe kind is built from `CheckFields` and the probe's
own parameter model, joined in a union tagged by ``kind``; the loader validates
entries with it and ``monitor schema`` publishes it.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from monitor.inventory.models import CheckFields
from probes.registry import PROBES


@cache
def check_models() -> dict[str, type[CheckFields]]:
    """One model per probe kind: `CheckFields` + the probe's parameters + ``kind``."""
    models: dict[str, type[CheckFields]] = {}
    for name, probe in PROBES.items():
        kind: Any = Literal[name]
        models[name] = create_model(
            f"{name.capitalize()}Check",
            __base__=(CheckFields, probe.params),
            __doc__=f"A ``{name}`` check: {probe.summary}.",
            kind=(kind, Field(description=probe.summary)),
        )
    return models


@cache
def check_entry_adapter() -> TypeAdapter[Any]:
    """Validates one check entry, choosing the model by its ``kind``."""
    models = tuple(check_models().values())
    union = Annotated[Union[models], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union)


def split_entry(entry: CheckFields) -> tuple[dict[str, Any], dict[str, Any]]:
    """The common fields and the probe parameters of a validated entry."""
    common = set(CheckFields.model_fields) | {"kind"}
    data = {k: getattr(entry, k) for k in type(entry).model_fields}
    return ({k: v for k, v in data.items() if k in common},
            {k: v for k, v in data.items() if k not in common})
