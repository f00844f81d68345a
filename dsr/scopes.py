"""What an API token may do. Each view declares the one scope it needs: ``@api_view({"GET"}, scope="vault:read")``.

To add a scope, add ONE line to ``SCOPES`` below (``"<area>:<read|write|verb>": "what it allows"``), keep the
dict sorted by area, and use the name in your view's ``api_view``. Nothing else is needed: the management
commands, the OpenAPI schema and the docs page read this dict. A view naming a scope that is not here fails at
import, so a typo cannot open or lock an endpoint silently. Existing tokens do NOT gain a new scope: an operator
grants it by minting a token with it (least privilege; the README says so).
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES: dict[str, str] = {
    "breaches:read": "read personal-data breaches: their deadlines and the rule that governs, risk, scope counts and "
    "filings (no free text)",
    "breaches:write": "open a personal-data breach (monitoring and security tooling); its clocks start at once",
    "cases:attest_identity": "file erasure requests as already verified by the account holder's platform sign-in "
    "(verification.method = platform_account): the erasure is approved and its grace window starts at once",
    "cases:read": "read rights requests (cases) and their due dates",
    "cases:write": "file rights requests (may create the subject named in the request)",
    "content:read": "read the decrypted content of items (photos, videos, embeddings…)",
    "exports:read": "download a case's finished access or portability package (the subject's whole data)",
    "portal:handoff": "hand a signed-in, just re-authenticated user to the portal (a short-lived single-use link)",
    "takedowns:read": "read takedown requests (state, clocks, what is missing) by their number",
    "takedowns:write": "file takedown requests (the platform's report button) and add missing elements",
    "vault:read": "read subjects, their holdings, item metadata, lineage and processing decisions",
    "vault:write": "create subjects, upload photos, register derived items, record and withdraw consent",
}


class UnknownScope(ValueError):
    pass


def check(names: Iterable[str]) -> list[str]:
    """Validate and normalise scope names (sorted, no duplicates); raise UnknownScope naming the bad ones."""
    wanted = {n.strip() for n in names if n and n.strip()}
    unknown = sorted(wanted - SCOPES.keys())
    if unknown:
        raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}")
    return sorted(wanted)


def parse(values: Iterable[str]) -> list[str]:
    """Scope arguments as typed on the command line: repeatable and/or comma-separated."""
    return check(part for value in values for part in value.split(","))
