"""The inventory: sites, devices and their checks, from ``inventory.yaml``."""

from monitor.inventory.errors import InventoryError, Problem
from monitor.inventory.loader import load_apart, load_inventory
from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole

__all__ = ["CheckConfig", "Device", "DeviceKind", "Inventory", "InventoryError", "Problem",
           "Site", "SiteRole", "load_apart", "load_inventory"]
