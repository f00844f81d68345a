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

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve

from dsr.scopes import SCOPES

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


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def op(summary: str, ok: dict[str, dict[str, Any]], *, body: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, errors: tuple[str, ...] = (), description: str = "") -> dict:
    """One operation: ``ok`` maps success statuses to JSON schemas; ``body`` is a requestBody ``content`` map;
    ``errors`` lists the statuses particular to this operation (the standard ones are added by build_schema)."""
    operation: dict[str, Any] = {"summary": summary, "responses": {}}
    if description:
        operation["description"] = description
    for status, schema in ok.items():
        operation["responses"][status] = {"description": "OK", **_json(schema)}
    for code in errors:
        operation["responses"][code] = ERROR
    if body:
        operation["requestBody"] = {"required": True, "content": body}
    if params:
        operation["parameters"] = params
    return operation


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": UUID}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
            "required": ["code", "message"]}},
    },
    "Subject": {
        "type": "object",
        "properties": {
            "id": UUID, "reference": {"type": "string"},
            "kind": {"type": "string", "enum": ["account_holder", "depicted"]},
            "account_id": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
            "erased": {"type": "boolean"},
        },
    },
    "SubjectIdentifier": {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}, "account_id": {"type": "string"},
                       "kind": {"type": "string", "enum": ["account_holder", "depicted"]}},
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
                       "method": {"type": "string"}, "notice_version": {"type": "string"}},
    },
    "ConsentInput": {
        "type": "object", "required": ["subject", "purpose"],
        "properties": {"subject": UUID, "item": UUID, "purpose": {"type": "string"},
                       "granted_at": {"type": "string", "format": "date-time"}, "method": {"type": "string"},
                       "notice_version": {"type": "string"}},
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
            "kind": {"type": "string", "enum": [
                "access", "portability", "erasure", "rectification", "restriction", "objection",
                "direct_marketing_objection", "consent_withdrawal", "automated_decision_review",
                "opt_out_sale_sharing", "limit_sensitive"]},
            "regimes": {"type": "array", "minItems": 1,
                        "items": {"type": "string", "enum": ["eu_gdpr", "uk_gdpr", "ccpa"]}},
            "subject": {"type": "object",
                        "properties": {"email": {"type": "string"}, "account_id": {"type": "string"}}},
            "received_at": {"type": "string", "format": "date-time"},
            "channel": {"type": "string"},
            "filed_by": {"type": "string", "enum": ["subject", "agent"]},
            "idempotency_key": {"type": "string"},
        },
    },
    "Case": {
        "type": "object",
        "properties": {"id": UUID, "reference": {"type": "string"}, "kind": {"type": "string"},
                       "regimes": {"type": "array", "items": {"type": "string"}}, "state": {"type": "string"},
                       "subject": UUID, "channel": {"type": "string"},
                       "received_at": {"type": "string", "format": "date-time"},
                       "due_dates": {"type": "array", "items": _ref("DueDate")},
                       "governing_due_on": {"type": "string", "format": "date"}},
    },
}


_MULTIPART_PHOTO = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
    "depicted": {"type": "array", "items": UUID, "description": "other subjects who appear in the photo"},
    "purpose": {"type": "string"}}}}}
_MULTIPART_ITEM = {
    "multipart/form-data": {"schema": {"type": "object", "required": ["category", "purpose"], "properties": {
        "file": {"type": "string", "format": "binary"}, "category": {"type": "string"},
        "purpose": {"type": "string"}, "derived_from": {"type": "array", "items": UUID},
        "subjects": {"type": "array", "items": UUID}, "attributes": {"type": "string"}}}},
    "application/json": {"schema": {"type": "object", "required": ["category", "purpose"], "properties": {
        "category": {"type": "string"}, "purpose": {"type": "string"},
        "derived_from": {"type": "array", "items": UUID}, "subjects": {"type": "array", "items": UUID},
        "content_base64": {"type": "string"}, "content_type": {"type": "string"},
        "attributes": {"type": "object"}}}},
}

# One entry per path. Add yours at the end of your own section (see the module docstring).
PATHS: dict[str, dict[str, Any]] = {
    # --- vault: subjects ---
    "/api/v1/subjects": {"post": op(
        "Create a subject (or return the one with that identifier)", {"201": _ref("Subject"), "200": _ref("Subject")},
        body=_json(_ref("SubjectIdentifier"))["content"])},
    "/api/v1/subjects/lookup": {"post": op(
        "Find a subject by e-mail or account id", {"200": _ref("Subject")},
        body=_json(_ref("SubjectIdentifier"))["content"])},
    "/api/v1/subjects/{subject_id}": {"get": op("A subject", {"200": _ref("Subject")},
                                                params=[_path_param("subject_id")])},
    "/api/v1/subjects/{subject_id}/photos": {"post": op(
        "Upload a photo: format allow-list, pixel/frame/size caps, re-encoded, all metadata stripped, encrypted",
        {"201": _ref("Item")}, body=_MULTIPART_PHOTO, params=[_path_param("subject_id")],
        errors=("409", "422"))},
    "/api/v1/subjects/{subject_id}/holdings": {"get": op(
        "Everything held about a subject", {"200": _ref("Holdings")}, params=[_path_param("subject_id")])},
    "/api/v1/subjects/{subject_id}/processing": {"get": op(
        "May the subject (and item) be processed for a purpose now?", {"200": _ref("ProcessingDecision")},
        params=[_path_param("subject_id"),
                {"name": "purpose", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "item", "in": "query", "required": False, "schema": UUID}])},
    # --- vault: items ---
    "/api/v1/items": {"post": op("Register a derived item with its lineage", {"201": _ref("Item")},
                                 body=_MULTIPART_ITEM, errors=("409",))},
    "/api/v1/items/{item_id}": {"get": op("An item's metadata", {"200": _ref("Item")},
                                          params=[_path_param("item_id")])},
    "/api/v1/items/{item_id}/content": {"get": {
        "summary": "The decrypted content, streamed as an attachment",
        "parameters": [_path_param("item_id")],
        "description": "Content-Length is the plaintext size. X-Content-Integrity: verified (authenticated in full "
                       "before sending) or streamed (large items: a chunk that fails authentication cuts the "
                       "connection, so a body shorter than Content-Length is a failed download).",
        "responses": {"200": {"description": "content", "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}, "410": ERROR,
            "502": ERROR, "503": ERROR}}},
    "/api/v1/items/{item_id}/derived": {"get": op(
        "Everything derived from the item, transitively",
        {"200": {"type": "object", "properties": {"item": UUID, "derived": {"type": "array", "items": _ref("Item")}}}},
        params=[_path_param("item_id")])},
    # --- vault: consent ---
    "/api/v1/consents": {"post": op("Record a person's consent", {"201": _ref("Consent")},
                                    body=_json(_ref("ConsentInput"))["content"])},
    "/api/v1/consents/{consent_id}/withdraw": {"post": op("Withdraw a consent", {"200": _ref("Consent")},
                                                          params=[_path_param("consent_id")])},
    # --- cases ---
    "/api/v1/cases": {"post": op("File a rights request from another system",
                                 {"201": _ref("Case"), "200": _ref("Case")},
                                 body=_json(_ref("CaseInput"))["content"], errors=("422",))},
    "/api/v1/cases/{case_id}": {"get": op("A rights request with every due date", {"200": _ref("Case")},
                                          params=[_path_param("case_id")])},
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
    operation = {**operation, "responses": dict(operation["responses"])}
    view = _view_for(path)
    scope = getattr(view, "api_scope", None)
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
            "schemas": SCHEMAS,
            "responses": {"Error": {"description": "Error", **_json(_ref("Error"))}},
        },
    }


def schema(request: HttpRequest) -> JsonResponse:
    return JsonResponse(build_schema())
