"""The OpenAPI 3.1 description of /api/v1/, served by the app (kept next to the views it describes)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

UUID = {"type": "string", "format": "uuid"}
ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, ok: str, ok_schema: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, errors: tuple[str, ...] = ("400", "401", "404")) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {ok: {"description": "OK", **_json(ok_schema)}}}
    for code in errors:
        op["responses"][code] = ERROR
    if body:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    return op


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
            "id": UUID, "category": {"type": "string"}, "purpose": {"type": "string"}, "source": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "purged_at": {"type": ["string", "null"], "format": "date-time"},
            "content_type": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
            "sha256": {"type": ["string", "null"]},
            "subjects": {"type": "array", "items": {"type": "object", "properties": {
                "id": UUID, "role": {"type": "string", "enum": ["owner", "depicted", "derived"]}}}},
            "derived_from": {"type": "array", "items": UUID},
            "attributes": {"type": "object"},
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


def build_schema() -> dict[str, Any]:
    multipart_photo = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
        "depicted": {"type": "array", "items": UUID, "description": "other subjects who appear in the photo"},
        "purpose": {"type": "string"}}}}}
    multipart_item = {
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
    paths = {
        "/api/v1/subjects": {"post": _op("Create a subject (or return the one with that identifier)", "201",
                                         _ref("Subject"), body=_json(_ref("SubjectIdentifier"))["content"])},
        "/api/v1/subjects/lookup": {"post": _op("Find a subject by e-mail or account id", "200", _ref("Subject"),
                                                body=_json(_ref("SubjectIdentifier"))["content"])},
        "/api/v1/subjects/{subject_id}": {"get": _op("A subject", "200", _ref("Subject"),
                                                     params=[_path_param("subject_id")])},
        "/api/v1/subjects/{subject_id}/photos": {"post": _op(
            "Upload a photo: format allow-list, pixel/frame/size caps, re-encoded, all metadata stripped, encrypted",
            "201", _ref("Item"), body=multipart_photo, params=[_path_param("subject_id")],
            errors=("400", "401", "404", "409", "413", "415", "422"))},
        "/api/v1/subjects/{subject_id}/holdings": {"get": _op("Everything held about a subject", "200",
                                                              _ref("Holdings"), params=[_path_param("subject_id")])},
        "/api/v1/subjects/{subject_id}/processing": {"get": _op(
            "May the subject (and item) be processed for a purpose now?", "200", _ref("ProcessingDecision"),
            params=[_path_param("subject_id"),
                    {"name": "purpose", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "item", "in": "query", "required": False, "schema": UUID}])},
        "/api/v1/items": {"post": _op("Register a derived item with its lineage", "201", _ref("Item"),
                                      body=multipart_item, errors=("400", "401", "404", "409", "413"))},
        "/api/v1/items/{item_id}": {"get": _op("An item's metadata", "200", _ref("Item"),
                                               params=[_path_param("item_id")])},
        "/api/v1/items/{item_id}/content": {"get": {
            "summary": "The decrypted content, streamed as an attachment",
            "parameters": [_path_param("item_id")],
            "responses": {"200": {"description": "content", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}, "401": ERROR, "404": ERROR, "410": ERROR}}},
        "/api/v1/items/{item_id}/derived": {"get": _op(
            "Everything derived from the item, transitively", "200",
            {"type": "object", "properties": {"item": UUID, "derived": {"type": "array", "items": _ref("Item")}}},
            params=[_path_param("item_id")])},
        "/api/v1/consents": {"post": _op("Record a person's consent", "201", _ref("Consent"),
                                         body=_json(_ref("ConsentInput"))["content"])},
        "/api/v1/consents/{consent_id}/withdraw": {"post": _op("Withdraw a consent", "200", _ref("Consent"),
                                                               params=[_path_param("consent_id")])},
        "/api/v1/cases": {"post": _op("File a rights request from another system", "201", _ref("Case"),
                                      body=_json(_ref("CaseInput"))["content"], errors=("400", "401", "422"))},
        "/api/v1/cases/{case_id}": {"get": _op("A rights request with every due date", "200", _ref("Case"),
                                               params=[_path_param("case_id")])},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dsr platform API", "version": "1.0.0",
                 "description": "Vault and rights-desk API. Authenticate with 'Authorization: Bearer <token>' "
                                "(tokens from `manage.py create_api_token NAME`)."},
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
