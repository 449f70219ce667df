"""integration-health: turns GHL and Unipile failures into bounded health states."""

__version__ = "0.1.0"
