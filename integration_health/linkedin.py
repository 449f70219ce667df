"""LinkedIn profile identifiers: the public slug from any form of profile URL.

Operators' exports hold profile URLs in every shape (``www`` or not, a
country subdomain, a locale path, a trailing slash, a query string,
percent-encoding, or a bare slug). Unipile looks profiles up by the slug, so
it is extracted once, here, on import and wherever a URL is read.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_PROVIDER_ID = re.compile(r"^ACo[A-Za-z0-9_-]{6,}$")
_SLUG = re.compile(r"^[^\s/?#]{1,200}$")


def linkedin_slug(value: str | None) -> str | None:
    """Return the public identifier of a LinkedIn profile, or None.

    Accepts ``https://www.linkedin.com/in/jane-doe/``, ``linkedin.com/in/jane-doe?x=1``,
    ``https://uk.linkedin.com/in/jane-doe/en``, ``/in/jane-doe``, a bare
    slug or a provider ID (``ACo...``). Anything else (a company page, an
    empty string, another site) gives None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _PROVIDER_ID.match(text):
        return text
    if "/" not in text and "." not in text:
        return text if _SLUG.match(text) else None
    if "://" not in text and not text.startswith("/"):
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if host and not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    for index, segment in enumerate(segments[:-1]):
        if segment.lower() in {"in", "pub"}:
            slug = segments[index + 1].strip()
            return slug if slug and _SLUG.match(slug) else None
    return None
