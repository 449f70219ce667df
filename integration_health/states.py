"""The health vocabulary, kept free of any database import.

Clients classify what a provider says into these values without importing
the tables (design: clients never import models); ``models`` re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    UNIPILE = "unipile"
    GHL = "ghl"


class HealthStatus(StrEnum):
    OK = "OK"
    DEGRADED = "DEGRADED"
    DISCONNECTED = "DISCONNECTED"
