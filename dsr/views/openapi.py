"""The OpenAPI 3.1 description of /api/v1/, served by the app (kept next to the views it describes).

How to add an endpoint (several people do this in parallel; keep edits additive, in your own section):
1. Write the view with ``@api_view({"POST"}, scope="area:verb")`` (dsr/views/apiutil.py; add a new scope to
   dsr/scopes.py) and add its URL to dsr/urls.py.
2. Add ONE entry to ``PATHS`` below: ``"/api/v1/<path>": {"post": op(summary, {"201": schema}, body=...)}``.
   Put request/response shapes used more than once in ``SCHEMAS``. State every constraint the view enforces
   (enums, formats, lengths, required fields): the contract test (tests/test_api_contract.py) fuzzes every
   path in this dict with schemathesis and fails on any answer the schema does not promise.
3. Do not write the security requirement, the 401/403/404/413/415 errors or the scope: ``build_schema`` adds
   them from the view itself (its ``api_scope``) and from the operation's shape, so they cannot drift.
   List in ``errors=`` only the statuses particular to the operation (409, 410, 422…).
Every error body is ``{"error": {"code", "message", ...}}`` (the ``Error`` schema).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dsr.deadlines import Kind, Regime
from dsr.models import (
    BreachOrigin,
    BreachType,
    Channel,
    DataCategory,
    FiledBy,
    ProcessingActivity,
    RiskFactor,
    Subject,
)
from dsr.scopes import SCOPES
from dsr.views.apiutil import error_response

UUID = {"type": "string", "format": "uuid"}
ERROR = {"$ref": "#/components/responses/Error"}

STANDARD_ERRORS = {
    "400": "The request is malformed or a field is invalid (error.field names it).",
    "401": "No token, an unknown token, or a revoked or expired one.",
    "403": "The token lacks the scope this operation needs (error.required_scope names it).",
    "404": "Nothing with that id.",
    "413": "The body is larger than this route accepts (refused from Content-Length, before it is read).",
    "415": "The body is not in a media type this operation accepts.",
}
ERROR_TEXT = {
    "404": "Nothing matches.",
    "409": "Conflicts with the current state (identifiers of different subjects; a subject being erased).",
    "410": "Gone: erased or purged.",
    "422": "Matches the schema but cannot be carried out: an id in the body names nothing, a date lies in the "
           "future, a file is not what it claims, or a rule of the request's kind and regimes refuses it.",
    "502": "Stored content failed its integrity check.",
    "503": "Storage or the key ring is unavailable; try again later.",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def op(summary: str, ok: dict[str, dict[str, Any]], *, body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, errors: tuple[str, ...] = (), description: str = "",
       links: dict[str, dict[str, str]] | None = None) -> dict:
    """One operation: ``ok`` maps success statuses to JSON schemas; ``body`` is a requestBody ``content`` map;
    ``errors`` lists the statuses particular to this operation (the standard ones are added by build_schema);
    ``links`` maps "METHOD /path" of a follow-up operation to its path parameters taken from this answer
    (e.g. ``{"GET /api/v1/cases/{case_id}": {"case_id": "$response.body#/id"}}``), for clients and for the
    stateful phase of the contract test."""
    operation: dict[str, Any] = {"summary": summary, "responses": {}}
    if description:
        operation["description"] = description
    for status, schema in ok.items():
        operation["responses"][status] = {"description": "OK", **_json(schema)}
        if links and status.startswith("2"):
            operation["responses"][status]["links"] = {
                re.sub(r"[^A-Za-z0-9]+", "_", target).strip("_"): {"operationId": target, "parameters": parameters}
                for target, parameters in links.items()}
    for code in errors:
        operation["responses"][code] = {"description": ERROR_TEXT.get(code, "Error"), **_json(_ref("Error"))}
    if body:
        operation["requestBody"] = {"required": True, "content": body}
    if params:
        operation["parameters"] = params
    return operation


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": UUID}


# Single-line text: no CR or LF, so nothing a client sends can split a header or a mail line (issue 7 §8).
LINE = "^[^\\r\\n\\x00]*$"  # and no NUL, which PostgreSQL text cannot hold
NO_NUL = "^[^\\x00]*$"


def _line(max_len: int, min_len: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_len, "pattern": LINE}
    if min_len:
        schema["minLength"] = min_len
    return schema


# The domain is a host name: no whitespace and no ASCII punctuation but "-", "." and "_" (an IDN is fine).
EMAIL = {"type": "string", "format": "email", "maxLength": 254,
         "pattern": "^[^\\s@\\x00]+@[^\\s\\x00!-,/:-@\\[-^`{-~]+$",
         "description": "matched case-insensitively; no whitespace"}
ACCOUNT_ID = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": LINE,
              "description": "the platform's account id, matched exactly"}
SUBJECT_KIND = {"type": "string", "enum": [k.value for k in Subject.Kind]}
# ISO 3166-1 alpha-2, or 3166-2 "CC-SUB" (dsr/residence.py checks the code itself: an unknown one gets 422).
RESIDENCE = {"type": "string", "pattern": "^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$",
             "description": "ISO 3166 code of where the person lives: DE, GB-SCT, US-CA, BR"}
# Content types a derived item may declare: its content is served back with it (as an attachment).
DERIVED_CONTENT_TYPES = [
    "application/octet-stream", "application/json", "text/plain", "image/jpeg", "image/png", "image/webp",
    "video/mp4", "video/webm", "audio/mpeg", "audio/ogg",
]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
            "required_scope": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["code", "message"]}},
    },
    # Filled from the processing register when the schema is served (build_schema): see _register_enums.
    "Purpose": {"type": "string", "description": "a purpose in the processing register (Art. 30)"},
    "DerivedCategory": {"type": "string", "enum": sorted(c.value for c in DataCategory if c != DataCategory.PHOTO)},
    "DerivedContentType": {"type": "string", "enum": DERIVED_CONTENT_TYPES},
    "Subject": {
        "type": "object",
        "properties": {
            "id": UUID, "reference": {"type": "string"}, "kind": SUBJECT_KIND,
            "account_id": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
            "erased": {"type": "boolean"},
            "residence": {"type": ["string", "null"], "description": "ISO 3166 code, null when unknown"},
        },
    },
    "SubjectIdentifier": {
        "type": "object", "description": "give 'email' or 'account_id' (or both, if they name the same subject)",
        "anyOf": [{"required": ["email"]}, {"required": ["account_id"]}],
        "properties": {"email": EMAIL, "account_id": ACCOUNT_ID, "kind": SUBJECT_KIND},
    },
    "Item": {
        "type": "object",
        "properties": {
            "id": UUID, "category": {"type": "string"}, "purpose": {"type": "string"},
            # source and attributes are sealed under the item key: null once a holder's key is destroyed.
            "source": {"type": ["string", "null"]},
            "metadata": {"type": "string", "enum": ["sealed", "erased", "purged"]},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "purged_at": {"type": ["string", "null"], "format": "date-time"},
            "content_type": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
            "subjects": {"type": "array", "items": {"type": "object", "properties": {
                "id": UUID, "role": {"type": "string", "enum": ["owner", "depicted", "derived"]}}}},
            "derived_from": {"type": "array", "items": UUID},
            "attributes": {"type": ["object", "null"]},
        },
    },
    "Holdings": {
        "type": "object",
        "properties": {"subject": _ref("Subject"), "items": {"type": "array", "items": _ref("Item")},
                       "derived_item_ids": {"type": "array", "items": UUID}},
    },
    "Consent": {
        "type": "object",
        "properties": {"id": UUID, "subject": UUID, "item": {"oneOf": [UUID, {"type": "null"}]},
                       "purpose": {"type": "string"}, "granted_at": {"type": "string", "format": "date-time"},
                       "withdrawn_at": {"type": ["string", "null"], "format": "date-time"},
                       "method": {"type": "string"}, "notice_version": {"type": "string"},
                       "erasure_run": {"type": ["string", "null"], "description": "after a withdrawal: the erasure "
                                       "of the derived items that relied on the consent (issue 9 §7)"}},
    },
    "ConsentInput": {
        "type": "object", "required": ["subject", "purpose"],
        "properties": {"subject": UUID, "item": UUID, "purpose": _ref("Purpose"),
                       "granted_at": {"type": "string", "format": "date-time"}, "method": _line(64),
                       "notice_version": _line(64)},
    },
    "ProcessingDecision": {
        "type": "object",
        "properties": {"subject": UUID, "purpose": {"type": "string"}, "item": {"oneOf": [UUID, {"type": "null"}]},
                       "allowed": {"type": "boolean"}, "legal_basis": {"type": ["string", "null"]},
                       "reasons": {"type": "array", "items": {"type": "string"}},
                       "checked_at": {"type": "string", "format": "date-time"}},
    },
    "DueDate": {
        "type": "object",
        "properties": {"regime": {"type": "string", "enum": ["eu_gdpr", "uk_gdpr", "ccpa"]},
                       "rule": {"type": "string", "description": "legal-matrix rule id, e.g. G-ACC, C-ACK"},
                       "purpose": {"type": "string", "enum": ["acknowledgement", "response", "extension_notice",
                                                              "extended_response", "refusal", "suppression"]},
                       "due_on": {"type": "string", "format": "date"},
                       "basis": {"type": "string"}},
    },
    "CaseInput": {
        "type": "object", "required": ["kind", "regimes", "subject"],
        "properties": {
            "kind": {"type": "string", "enum": [k.value for k in Kind]},
            "regimes": {"type": "array", "minItems": 1,
                        "items": {"type": "string", "enum": [r.value for r in Regime]}},
            "subject": {"type": "object", "description": "give 'id', 'email' or 'account_id'",
                        "anyOf": [{"required": ["id"]}, {"required": ["email"]}, {"required": ["account_id"]}],
                        "properties": {"id": UUID, "email": EMAIL, "account_id": ACCOUNT_ID}},
            "received_at": {"type": "string", "format": "date-time", "description": "not in the future"},
            "channel": {"type": "string", "enum": list(Channel.values)},
            "filed_by": {"type": "string", "enum": list(FiledBy.values)},
            "agent_name": _line(200),
            "details": {"type": "string", "maxLength": 10_000, "pattern": NO_NUL},
            "idempotency_key": _line(100),
            "verification": {
                "type": "object", "required": ["method", "at"],
                "description": "The platform attests that the account holder signed in (erasure only; needs the "
                               "token scope `cases:attest_identity`): the case is verified at filing and its "
                               "erasure approved, starting the grace window at once.",
                "properties": {"method": {"type": "string", "enum": ["platform_account"]},
                               "at": {"type": "string", "format": "date-time"}}},
        },
    },
    "Case": {
        "type": "object",
        "properties": {"id": UUID, "reference": {"type": "string"}, "kind": {"type": "string"},
                       "regimes": {"type": "array", "items": {"type": "string"}}, "state": {"type": "string"},
                       "subject": UUID, "channel": {"type": "string"},
                       "received_at": {"type": "string", "format": "date-time"},
                       "due_dates": {"type": "array", "items": _ref("DueDate")},
                       "governing_due_on": {"type": "string", "format": "date"},
                       "package": {"oneOf": [_ref("Package"), {"type": "null"}],
                                   "description": "Access/portability cases: the package, else null"},
                       "verification_method": {"type": ["string", "null"]},
                       "erasure": {"oneOf": [_ref("ErasureStatus"), {"type": "null"}]}},
    },
    # --- exports (issue 10) ---
    "Package": {
        "type": "object",
        "required": ["id", "state", "progress", "size", "expires_at", "manifest_sha256"],
        "properties": {
            "id": UUID,
            "state": {"type": "string", "enum": ["building", "ready", "expired", "deleted", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "files_done": {"type": "integer", "minimum": 0}, "files_total": {"type": "integer", "minimum": 0},
            "size": {"type": ["integer", "null"], "description": "Bytes of the ZIP once ready"},
            "created_at": {"type": "string", "format": "date-time"},
            "ready_at": {"type": ["string", "null"], "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "When a ready package is deleted"},
            "manifest_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$",
                                "description": "SHA-256 of the package's manifest.json"},
            "covers_from": {"type": ["string", "null"], "format": "date-time",
                            "description": "CCPA requests to know: items from this instant on; null: everything"},
            "downloads": {"type": "integer", "minimum": 0},
        },
    },
    # --- erasure (issue 9) ---
    "ErasureStatus": {
        "type": "object",
        "description": "The erasure cascade of a case: its steps and counts, the grace window, each downstream "
                       "recipient's status, legal holds and, once completed, the certificate's URL.",
        "properties": {
            "id": UUID, "scope": {"type": "string", "enum": ["subject", "partial", "items"]},
            "state": {"type": "string", "enum": ["grace", "running", "completed", "cancelled"]},
            "needs_attention": {"type": "boolean"},
            "approved_at": {"type": "string", "format": "date-time"},
            "grace_ends_at": {"type": ["string", "null"], "format": "date-time"},
            "cancellable": {"type": "boolean"}, "current_step": {"type": ["string", "null"]},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "state": {"type": "string"}, "attempts": {"type": "integer"},
                "completed_at": {"type": ["string", "null"]}, "waiting_until": {"type": ["string", "null"]},
                "last_error": {"type": ["string", "null"]}, "counts": {"type": "object"}}}},
            "key_destroyed_at": {"type": ["string", "null"], "format": "date-time"},
            "recipients": {"type": "array", "items": {"type": "object", "properties": {
                "notice": UUID, "recipient": {"type": "string"}, "recipient_id": {"type": "integer"},
                "status": {"type": "string", "enum": ["pending", "retrying", "failed", "notified", "confirmed",
                                                      "other_channel"]},
                "attempts": {"type": "integer"}, "last_status": {"type": ["string", "null"]},
                "webhook": {"type": "boolean"}, "delivered_at": {"type": ["string", "null"]},
                "confirmed_at": {"type": ["string", "null"]}, "other_channel_at": {"type": ["string", "null"]}}}},
            "holds": {"type": "array", "items": {"type": "object"}},
            "erased": {"type": "object", "additionalProperties": {"type": "integer"}},
            "completed_at": {"type": ["string", "null"], "format": "date-time"},
            "certificate_url": {"type": ["string", "null"]},
        },
    },
}

_UUIDS = {"type": "array", "items": UUID}
# --- takedown desk (issue 13) ---
_TD_TEXT = {"type": "string", "pattern": NO_NUL}
_BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
SCHEMAS["TakedownInput"] = {
    "type": "object",
    "description": "The four elements of a valid request (47 U.S.C. 223a(a)(1)(B)); any may be missing at first: "
                   "the answer lists exactly what is missing and the clock starts when nothing is. Schema-valid "
                   "input that cannot be used (a link that is not http(s), an address that is not one, a copy "
                   "that is not a picture) gets 422.",
    "properties": {
        "signature_name": {**_line(200), "description": "typed full name: the signature"},
        "signature_attested": {"type": "boolean", "description": "the typed name is the signature and the "
                                                                 "statements are true"},
        "filed_as": {"type": "string", "enum": ["individual", "authorized"]},
        "acting_for": _line(200), "authority": {**_TD_TEXT, "maxLength": 2000},
        "item_ids": {"type": "array", "maxItems": 20, "items": UUID},
        "links": {"type": "array", "maxItems": 20,
                  "items": {"type": "string", "maxLength": 2000, "pattern": "^https?://[^\\x00-\\x20\\x7f]+$",
                            "description": "a web address on the platform (http or https)"}},
        "location_details": {**_TD_TEXT, "maxLength": 4000},
        "reference_image_base64": {"type": "string", "contentEncoding": "base64", "pattern": _BASE64,
                                   "description": "a copy to match (JPEG/PNG/WebP, the body stays under the JSON "
                                   "limit); kept only encrypted under a key of the request, shredded after the "
                                   "evidence period"},
        "good_faith_statement": {**_TD_TEXT, "maxLength": 4000},
        "good_faith_confirmed": {"type": "boolean"},
        "contact_email": EMAIL,
        "contact_phone": _line(40),
        "intimate": {"type": "boolean"}, "minor_suspected": {"type": "boolean"},
        "also_erase_own_data": {"type": "boolean", "description": "also open an erasure of the requester's own "
                                                                  "data (needs contact_email)"},
        "idempotency_key": _line(100),
    },
}
SCHEMAS["Takedown"] = {
    "type": "object",
    "properties": {
        "number": {"type": "string"},
        "state": {"type": "string", "enum": ["incomplete", "under_review", "removing", "removed", "refused",
                                             "withdrawn"]},
        "channel": {"type": "string", "enum": ["portal", "api"]},
        "received_at": {"type": "string", "format": "date-time"},
        "valid_at": {"type": ["string", "null"], "format": "date-time"},
        "missing": {"type": "array", "items": {"type": "object", "properties": {
            "element": {"type": "string", "enum": ["signature", "location", "good_faith", "contact"]},
            "field": {"type": "string"}, "message": {"type": "string"}}}},
        "intimate_claimed": {"type": "boolean"}, "minor_suspected": {"type": "boolean"},
        "clocks": {"type": "array", "items": {"type": "object", "properties": {
            "regime": {"type": "string", "enum": ["T-TIDA", "T-UK48", "T-POLICY", "T-DSA"]},
            "starts_at": {"type": "string", "format": "date-time"}, "due_at": {"type": "string", "format": "date-time"},
            "met_at": {"type": ["string", "null"], "format": "date-time"}}}},
        "governing_due_at": {"type": ["string", "null"], "format": "date-time"},
        "decision": {"type": ["object", "null"]},
        "removed_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_TD_NUMBER = {"name": "number", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^TD-[0-9A-F]{8}$"}}


_MULTIPART_PHOTO = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP (anything else: 422)"},
    "depicted": {**_UUIDS, "description": "other subjects who appear in the photo"},
    "purpose": _ref("Purpose")}}}}
_ITEM_TARGET = [{"required": ["derived_from"], "properties": {"derived_from": {"minItems": 1}}},
                {"required": ["subjects"], "properties": {"subjects": {"minItems": 1}}}]
_MULTIPART_ITEM = {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["category", "purpose"], "anyOf": _ITEM_TARGET,
        "description": "give 'derived_from' items or 'subjects'; the file part's type must be one of "
                       "DerivedContentType (else 422)",
        "properties": {
            "file": {"type": "string", "format": "binary"}, "category": _ref("DerivedCategory"),
            "purpose": _ref("Purpose"), "derived_from": _UUIDS, "subjects": _UUIDS, "source": _line(64),
            "attributes": {"type": "string", "contentMediaType": "application/json",
                           "description": "a JSON object (else 422)"}}}},
    "application/json": {"schema": {
        "type": "object", "required": ["category", "purpose"], "anyOf": _ITEM_TARGET,
        "description": "give 'derived_from' items or 'subjects'",
        "properties": {
            "category": _ref("DerivedCategory"), "purpose": _ref("Purpose"), "derived_from": _UUIDS,
            "subjects": _UUIDS, "source": _line(64),
            "content_base64": {"type": "string", "contentEncoding": "base64",
                               "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"},
            "content_type": _ref("DerivedContentType"), "attributes": {"type": "object"}}}},
}

# --- breach desk (issue 12) ---
_INSTANT = {"type": "string", "format": "date-time"}
_MAYBE_INSTANT = {"type": ["string", "null"], "format": "date-time"}
_BR_TEXT = {"type": "string", "pattern": NO_NUL}
SCHEMAS["BreachInput"] = {
    "type": "object", "additionalProperties": False,
    "required": ["title", "description", "detected_at", "aware_at", "aware_basis", "aware_by", "types"],
    "description": "An incident as monitoring or security tooling reports it (§10.8 register fields). Instants need "
                   "an offset. 422 (code invalid_breach, error.field and error.errors name every refused field): "
                   "aware_at before detected_at, any instant in the future or outside 1900-2200, an unknown "
                   "jurisdiction code or recipient id, a law-enforcement delay without its reason, blank text.",
    "properties": {
        "title": _line(200, 1), "description": {**_BR_TEXT, "minLength": 1, "maxLength": 20_000},
        "detected_at": {**_INSTANT, "description": "first anomaly"},
        "aware_at": {**_INSTANT, "description": "reasonable certainty that personal data was compromised: the "
                     "72-hour clock (B-SA) starts here"},
        "aware_basis": {**_BR_TEXT, "minLength": 1, "maxLength": 10_000, "description": "the evidence"},
        "aware_by": _line(200, 1),
        "investigation_started_at": _INSTANT,
        "types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(BreachType.values)}},
        "categories": {"type": "array", "items": {"type": "string", "enum": sorted(DataCategory.values)}},
        "systems": {"type": "array", "items": _line(64, 1),
                    "description": "blob_storage, database, or processor:<recipient id>"},
        "occurred_from": _INSTANT, "occurred_until": _INSTANT,
        "data_encrypted": {"type": "boolean"}, "keys_exposed": {"type": "boolean"},
        "restored_at": {**_INSTANT, "description": "availability restored"},
        "processor": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647,
                      "description": "id of the recipient (processor) involved"},
        "processor_notified_controller_at": _INSTANT,
        "risk_factors": {"type": "array", "items": {"type": "string", "enum": list(RiskFactor.values)}},
        "subjects_estimate": {"type": "integer", "minimum": 0, "maximum": 2_000_000_000},
        "jurisdictions": {"type": "array", "maxItems": 300, "items": RESIDENCE,
                          "description": "residences known to be affected before a scope is stored"},
        "consequences": {**_BR_TEXT, "maxLength": 10_000}, "measures": {**_BR_TEXT, "maxLength": 10_000},
        "subject_advice": {**_BR_TEXT, "maxLength": 10_000},
        "law_enforcement_delay": {"type": "boolean"},
        "law_enforcement_reason": {**_BR_TEXT, "maxLength": 5_000},
        "idempotency_key": {**_line(100), "description": "optional; a repeat with the same key (or the same "
                            "Idempotency-Key header) returns the first breach with 200 and writes nothing"},
    },
}
SCHEMAS["BreachDeadline"] = {
    "type": "object",
    "properties": {
        "rule": {"type": "string", "description": "legal-matrix id: B-SA, UK-BR, B-DS, CB-IND, CB-AG, US-xx, "
                 "US-xx-REG, BR-BR"},
        "regime": {"type": "string"}, "authority": {"type": "string"}, "started_at": _MAYBE_INSTANT,
        "due_at": {**_MAYBE_INSTANT, "description": "null: 'without undue delay' or pending"},
        "basis": {"type": "string"}, "met_at": _MAYBE_INSTANT, "not_required": {"type": "boolean"},
        "not_required_reason": {"type": ["string", "null"]}, "open": {"type": "boolean"}},
}
SCHEMAS["Breach"] = {
    "type": "object",
    "required": ["id", "reference", "state", "deadlines", "governing"],
    "properties": {
        "id": UUID, "reference": {"type": "string", "pattern": "^BR-[0-9]{4}-[0-9]{4,}$"},
        "title": {"type": "string"}, "state": {"type": "string", "enum": ["open", "closed"]},
        "origin": {"type": "string", "enum": list(BreachOrigin.values)},
        "created_at": _INSTANT, "closed_at": _MAYBE_INSTANT, "detected_at": _INSTANT, "aware_at": _INSTANT,
        "types": {"type": "array", "items": {"type": "string"}},
        "categories": {"type": "array", "items": {"type": "string"}},
        "systems": {"type": "array", "items": {"type": "string"}},
        "occurred_from": _MAYBE_INSTANT, "occurred_until": _MAYBE_INSTANT,
        "data_encrypted": {"type": "boolean"}, "keys_exposed": {"type": "boolean"},
        "risk_factors": {"type": "array", "items": {"type": "string"}},
        "jurisdictions_declared": {"type": "array", "items": {"type": "string"}},
        "risk": {"type": "object", "properties": {
            "suggested": {"type": ["string", "null"]}, "reasons": {"type": "array", "items": {"type": "string"}},
            "decided": {"type": ["string", "null"]}, "assessed_at": _MAYBE_INSTANT,
            "high_risk_determined_at": _MAYBE_INSTANT}},
        "exception_34_3": {"type": ["string", "null"], "enum": ["a", "b", "c", None]},
        "scope": {"type": "object", "properties": {
            "version": {"type": "integer"}, "computed_at": _MAYBE_INSTANT, "subjects": {"type": "integer"},
            "items": {"type": "integer"},
            "jurisdictions": {"type": "object", "additionalProperties": {"type": "integer"}}}},
        "deadlines": {"type": "array", "items": _ref("BreachDeadline")},
        "governing": {"description": "the earliest open deadline with a due instant: the rule the board names",
                      "oneOf": [{"type": "null"}, {"type": "object", "required": ["rule", "due_at"], "properties": {
                          "rule": {"type": "string"}, "due_at": _INSTANT, "authority": {"type": "string"}}}]},
        "filings": {"type": "array", "items": {"type": "object", "properties": {
            "id": UUID, "rule": {"type": "string"}, "phase": {"type": "string"},
            "follows": {"oneOf": [UUID, {"type": "null"}]}, "filed_at": _INSTANT, "late": {"type": "boolean"}}}},
    },
}
_BREACH_ID = {"breach_id": "$response.body#/id"}
_IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": _line(100),
                       "description": "the same as idempotency_key in the body (the body's wins when both are given)"}
SCHEMAS["SubjectInput"] = {**SCHEMAS["SubjectIdentifier"], "properties": {
    **SCHEMAS["SubjectIdentifier"]["properties"], "residence": RESIDENCE}}

_SUBJECT_ID = {"subject_id": "$response.body#/id"}
_ITEM_LINKS = {f"GET /api/v1/items/{{item_id}}{tail}": {"item_id": "$response.body#/id"}
               for tail in ("", "/content", "/derived")}

# One entry per path. Add yours at the end of your own section (see the module docstring).
PATHS: dict[str, dict[str, Any]] = {
    # --- vault: subjects ---
    "/api/v1/subjects": {"post": op(
        "Create a subject (or return the one with that identifier)", {"201": _ref("Subject"), "200": _ref("Subject")},
        body=_json(_ref("SubjectInput"))["content"], errors=("409", "422", "503"),
        links={"GET /api/v1/subjects/{subject_id}": _SUBJECT_ID,
               "GET /api/v1/subjects/{subject_id}/holdings": _SUBJECT_ID,
               "POST /api/v1/subjects/{subject_id}/photos": _SUBJECT_ID},
        description="201 when created, 200 when a subject with these identifiers exists; 409 when the e-mail "
                    "and the account id do not belong to one subject. 'residence' (optional) records where the "
                    "person lives (ISO 3166: DE, GB-SCT, US-CA), also on an existing subject; breach scoping and "
                    "the breach clocks use it. 422 (code invalid_residence): not an ISO 3166 code dsr knows.")},
    "/api/v1/subjects/lookup": {"post": op(
        "Find a subject by e-mail or account id", {"200": _ref("Subject")},
        body=_json(_ref("SubjectIdentifier"))["content"], errors=("404",))},
    "/api/v1/subjects/{subject_id}": {"get": op("A subject", {"200": _ref("Subject")},
                                                params=[_path_param("subject_id")])},
    "/api/v1/subjects/{subject_id}/photos": {"post": op(
        "Upload a photo: format allow-list, pixel/frame/size caps, re-encoded, all metadata stripped, encrypted",
        {"201": _ref("Item")}, body=_MULTIPART_PHOTO, params=[_path_param("subject_id")],
        errors=("409", "422", "451", "503"), links=_ITEM_LINKS,
        description="451 (code takedown_block_list_match): the photo matches content removed after a takedown "
                    "request (PDQ perceptual hash); the refusal is recorded on that request.")},
    "/api/v1/subjects/{subject_id}/holdings": {"get": op(
        "Everything held about a subject", {"200": _ref("Holdings")}, params=[_path_param("subject_id")])},
    "/api/v1/subjects/{subject_id}/processing": {"get": op(
        "May the subject (and item) be processed for a purpose now?", {"200": _ref("ProcessingDecision")},
        params=[_path_param("subject_id"),
                {"name": "purpose", "in": "query", "required": True, "schema": _ref("Purpose")},
                {"name": "item", "in": "query", "required": False, "schema": UUID}], errors=("422",))},
    # --- vault: items ---
    "/api/v1/items": {"post": op("Register a derived item with its lineage", {"201": _ref("Item")},
                                 body=_MULTIPART_ITEM, errors=("409", "422", "451", "503"), links=_ITEM_LINKS,
                                 description="451: a picture matching the takedown block list is refused.")},
    "/api/v1/items/{item_id}": {"get": op("An item's metadata", {"200": _ref("Item")},
                                          params=[_path_param("item_id")])},
    "/api/v1/items/{item_id}/content": {"get": {
        "summary": "The decrypted content, streamed as an attachment",
        "parameters": [_path_param("item_id")],
        "description": "Content-Length is the plaintext size. X-Content-Integrity: verified (authenticated in full "
                       "before sending) or streamed (large items: a chunk that fails authentication cuts the "
                       "connection, so a body shorter than Content-Length is a failed download). 451 (code "
                       "blocked_pending_takedown): blocked while a takedown request about it is reviewed.",
        "responses": {"200": {"description": "content, in the item's content type", "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in DERIVED_CONTENT_TYPES}}, "410": ERROR,
            "451": ERROR, "502": ERROR, "503": ERROR}}},
    "/api/v1/items/{item_id}/derived": {"get": op(
        "Everything derived from the item, transitively",
        {"200": {"type": "object", "properties": {"item": UUID, "derived": {"type": "array", "items": _ref("Item")}}}},
        params=[_path_param("item_id")])},
    # --- vault: consent ---
    "/api/v1/consents": {"post": op("Record a person's consent", {"201": _ref("Consent")},
                                    body=_json(_ref("ConsentInput"))["content"], errors=("409", "422"),
                                    links={"POST /api/v1/consents/{consent_id}/withdraw":
                                           {"consent_id": "$response.body#/id"}})},
    "/api/v1/consents/{consent_id}/withdraw": {"post": op("Withdraw a consent", {"200": _ref("Consent")},
                                                          params=[_path_param("consent_id")])},
    # --- cases ---
    "/api/v1/cases": {"post": op("File a rights request from another system",
                                 {"201": _ref("Case"), "200": _ref("Case")},
                                 body=_json(_ref("CaseInput"))["content"], errors=("409", "422"),
                                 links={"GET /api/v1/cases/{case_id}": {"case_id": "$response.body#/id"},
                                        "GET /api/v1/cases/{case_id}/certificate": {"case_id": "$response.body#/id"}},
                                 description="201 with a new case; 200 with the existing one when the filing repeats "
                                             "an idempotency key or an identical open filing (same subject, kind, "
                                             "regimes, channel) within the duplicate window.")},
    "/api/v1/cases/{case_id}": {"get": op("A rights request with every due date", {"200": _ref("Case")},
                                          params=[_path_param("case_id")])},
    # --- portal (issue 11) ---
    "/api/v1/portal/handoff": {"post": op(
        "Hand the platform's signed-in user to the portal: a short-lived, single-use link to their own requests",
        {"201": {"type": "object", "required": ["url", "expires_at"], "properties": {
            "url": {"type": "string", "description": "open it in the user's browser; it works once"},
            "expires_at": {"type": "string", "format": "date-time"}}}},
        body=_json({"type": "object", "required": ["subject", "reauthenticated_at"], "properties": {
            "subject": {"type": "object", "description": "the signed-in user: dsr's subject id or the platform's "
                        "account id", "anyOf": [{"required": ["id"]}, {"required": ["account_id"]}],
                        "properties": {"id": UUID, "account_id": ACCOUNT_ID}},
            "reauthenticated_at": {"type": "string", "format": "date-time", "description":
                                   "when the user last proved who they are to the platform (password, passkey); "
                                   "must be within DSR_PORTAL_REAUTH_SECONDS (default 300)"}}})["content"],
        errors=("404", "422"),
        description="404: no subject with that identifier. 422: the re-authentication is too old or in the future, "
                    "or the subject was erased.")},
    # --- takedown desk (issue 13) ---
    "/api/v1/takedowns": {"post": op(
        "File a takedown request for a depiction (the report button); a request number at once",
        {"201": _ref("Takedown"), "200": _ref("Takedown")}, body=_json(_ref("TakedownInput"))["content"],
        errors=("422",), links={f"{m} /api/v1/takedowns/{{number}}{tail}": {"number": "$response.body#/number"}
                                for m, tail in (("GET", ""), ("POST", "/supplement"))})},
    "/api/v1/takedowns/{number}": {"get": op("A takedown request's state and clocks", {"200": _ref("Takedown")},
                                             params=[_TD_NUMBER])},
    "/api/v1/takedowns/{number}/supplement": {"post": op(
        "Add missing elements to an incomplete takedown request", {"200": _ref("Takedown")},
        body=_json(_ref("TakedownInput"))["content"], params=[_TD_NUMBER], errors=("409", "422"))},
    # --- breach desk (issue 12) ---
    "/api/v1/breaches": {
        "post": op("Open a personal-data breach (monitoring and security tooling): its clocks start at once",
                   {"201": _ref("Breach"), "200": _ref("Breach")}, body=_json(_ref("BreachInput"))["content"],
                   errors=("422",), params=[_IDEMPOTENCY_HEADER],
                   links={"GET /api/v1/breaches/{breach_id}": _BREACH_ID},
                   description="201 with the breach, its deadlines (B-SA: aware_at + 72 hours exactly) and the "
                               "governing rule; the §5.1 risk suggestion is stored for the operator to decide. Safe "
                               "to retry: a repeat with the same idempotency_key (body) or Idempotency-Key header, "
                               "even a concurrent one, returns the first breach with 200 and writes nothing (no "
                               "second breach, no second breach.opened event)."),
        "get": op("Breaches, newest awareness first", {"200": {"type": "object", "required": ["breaches"],
                                                                "properties": {"breaches": {
                                                                    "type": "array", "items": _ref("Breach")}}}},
                  params=[{"name": "state", "in": "query", "required": False,
                           "schema": {"type": "string", "enum": ["open", "closed"]}},
                          {"name": "limit", "in": "query", "required": False,
                           "schema": {"type": "integer", "minimum": 1, "maximum": 100}}])},
    "/api/v1/breaches/{breach_id}": {"get": op("A breach with its deadlines and the governing rule",
                                               {"200": _ref("Breach")}, params=[_path_param("breach_id")])},
    # --- exports (issue 10) ---
    "/api/v1/cases/{case_id}/package": {"get": {
        "summary": "The case's access or portability package (ZIP), streamed as an attachment",
        "description": "Not cached (Cache-Control: no-store). Every download is an audit event. The ZIP holds "
                       "index.html, access-report.pdf, media/, data/ (JSON + CSV; schemas at "
                       "/schemas/export/v1/<name>.schema.json) and manifest.json (SHA-256 of every file).",
        "parameters": [_path_param("case_id")],
        "responses": {"200": {"description": "the package", "content": {"application/zip": {
            "schema": {"type": "string", "format": "binary"}}}},
            "409": ERROR, "410": ERROR, "503": ERROR}}},
    # --- erasure (issue 9) ---
    "/api/v1/cases/{case_id}/certificate": {"get": {
        "summary": "The certificate of erasure (PDF), once the case's erasure has completed",
        "parameters": [_path_param("case_id")],
        "responses": {"200": {"description": "certificate", "content": {"application/pdf": {
            "schema": {"type": "string", "format": "binary"}}}}, "409": ERROR}}},
}


def _view_for(path: str) -> Any:
    """The view serving an OpenAPI path template (parameters filled with a sample UUID)."""
    sample = re.sub(r"\{[^}]+\}", str(uuid.UUID(int=0)), path)
    try:
        return resolve(sample).func
    except Resolver404:
        return None


def _complete(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """Add what follows from the view and the operation's shape: scope, security, standard errors."""
    operation = {**operation, "responses": dict(operation["responses"]), "operationId": f"{method.upper()} {path}"}
    view = _view_for(path)
    # A URL serving two methods with different scopes (GET reads, POST writes) names them per method.
    scope = getattr(view, "api_scopes", {}).get(method) or getattr(view, "api_scope", None)
    responses = operation["responses"]
    wanted = ["400", "401"]
    if scope:
        operation["security"] = [{"bearer": [scope]}]
        operation["x-scope"] = scope
        note = f"Needs the token scope `{scope}` ({SCOPES[scope]})."
        operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()
        wanted.append("403")
    if "{" in path:
        wanted.append("404")
    if "requestBody" in operation:
        wanted += ["413", "415"]
    for code in wanted:
        responses.setdefault(code, {"description": STANDARD_ERRORS[code], **_json(_ref("Error"))})
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _register_enums() -> dict[str, Any]:
    """Schemas whose values come from the processing register, read when the schema is built."""
    purposes = list(ProcessingActivity.objects.order_by("purpose").values_list("purpose", flat=True))
    return {"Purpose": {**SCHEMAS["Purpose"], "enum": purposes}}


def build_schema() -> dict[str, Any]:
    paths = {
        path: {method: _complete(path, method, operation) for method, operation in ops.items()}
        for path, ops in PATHS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dsr platform API", "version": "1.0.0",
                 "description": "Vault and rights-desk API. Authenticate with 'Authorization: Bearer <token>' "
                                "(tokens from `manage.py create_api_token NAME --scope ...`). Each operation "
                                "names the one scope it needs; scopes: "
                                + "; ".join(f"`{k}`: {v}" for k, v in sorted(SCOPES.items())) + "."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**SCHEMAS, **_register_enums()},
            "responses": {"Error": {"description": "Error", **_json(_ref("Error"))}},
        },
    }


# --- validating request bodies against the schema -----------------------------------------------------

_validators: dict[tuple[str, str, str], Any] = {}


def _template(route: str) -> str:
    """Django route 'api/v1/subjects/<str:subject_id>' -> OpenAPI path '/api/v1/subjects/{subject_id}'."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def validate_json_body(request: HttpRequest, body: Any) -> None:
    """Refuse (400, naming the field) a JSON body that does not match the operation's schema, so that what
    the schema promises is what the API enforces, for every endpoint in PATHS."""
    from dsr.views.apiutil import ApiError

    match = request.resolver_match
    if match is None:
        return
    path, method = _template(match.route), (request.method or "").lower()
    operation = PATHS.get(path, {}).get(method)
    if not operation or "application/json" not in operation.get("requestBody", {}).get("content", {}):
        return
    doc = build_schema()
    key = (path, method, repr(doc["components"]["schemas"]["Purpose"]["enum"]))
    validator = _validators.get(key)
    if validator is None:
        pointer = "/".join(["#", "paths", path.replace("~", "~0").replace("/", "~1"), method, "requestBody",
                            "content", "application~1json", "schema"])
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        validator = Draft202012Validator({"$ref": "urn:dsr-api" + pointer},
                                         registry=Registry().with_resource("urn:dsr-api", resource),
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        if len(_validators) > 256:
            _validators.clear()
        _validators[key] = validator
    error = best_match(validator.iter_errors(body))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path)
        raise ApiError(400, "invalid_field", _explain(error, field), **({"field": field} if field else {}))


def _explain(error: Any, field: str) -> str:
    """A message naming the field and the rule, never echoing the value (it may be personal data)."""
    name = f"'{field}'" if field else "the body"
    rule, value = error.validator, error.validator_value
    if rule == "required":
        return error.message  # "'x' is a required property": names the field only
    if rule == "enum":
        return f"{name} must be one of: {', '.join(map(str, value))}"
    if rule == "type":
        return f"{name} must be of type {value if isinstance(value, str) else ' or '.join(value)}"
    if rule == "format":
        return f"{name} must be a valid {value}"
    if rule in ("maxLength", "minLength", "maxItems", "minItems"):
        return f"{name} violates {rule} {value}"
    if rule == "pattern":
        return f"{name} has characters it may not have (a single line; e-mail addresses without blanks)"
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"{name}: {described}" if described else f"{name} does not match the schema ({rule})"


def schema(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        resp = error_response(405, "method_not_allowed", "use GET")
        resp["Allow"] = "GET, HEAD"
        return resp
    return JsonResponse(build_schema())
