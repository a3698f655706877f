"""The JSON Schema of ``inventory.yaml`` (for editor completion), from the models."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from monitor.inventory.checks import check_entry_adapter
from monitor.inventory.models import InventoryFile


def inventory_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the inventory file, check kinds included."""
    schema = InventoryFile.model_json_schema(ref_template="#/$defs/{model}")
    adapter: TypeAdapter[Any] = check_entry_adapter()
    checks = adapter.json_schema(ref_template="#/$defs/{model}")
    schema["$defs"].update(checks.pop("$defs", {}))
    for model in ("DeviceSpec", "KindDefaults"):
        schema["$defs"][model]["properties"]["checks"]["items"] = checks
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "inventory.yaml of the video-surveillance monitoring daemon"
    return schema
