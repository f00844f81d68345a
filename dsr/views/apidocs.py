"""A readable API reference at /api/v1/docs, rendered on the server from the same schema the API serves
(no JavaScript, no CDN): each operation with its scope, parameters, body fields, and every status it answers."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dsr.views.openapi import build_schema


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if ref and ref.startswith("#/components/schemas/"):
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _type(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    schema = _resolve(schema, doc)
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}), doc)}"
    if schema.get("format"):
        kind = f"{kind} ({schema['format']})"
    return kind or "any"


def _constraints(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    schema = _resolve(schema, doc)
    parts = []
    if "enum" in schema:
        parts.append("one of: " + ", ".join(str(v) for v in schema["enum"]))
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minItems", "min items")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    pattern = schema.get("pattern", "")
    if "\\r\\n" in pattern:
        parts.append("single line")
    elif pattern and "\\s" not in pattern and "enum" not in schema:  # whitespace rules are in the description
        parts.append(f"pattern {pattern}")
    if schema.get("description"):
        parts.append(schema["description"])
    return "; ".join(parts)


def _fields(schema: dict[str, Any], doc: dict[str, Any], prefix: str = "") -> list[dict[str, str]]:
    schema = _resolve(schema, doc)
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        rows.append({"name": prefix + name, "type": _type(prop, doc), "required": "yes" if name in required else "",
                     "rules": _constraints(prop, doc)})
        if _resolve(prop, doc).get("type") == "object" and _resolve(prop, doc).get("properties"):
            rows += _fields(prop, doc, prefix + name + ".")
    return rows


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            bodies = [{"media": media, "note": _resolve(spec.get("schema", {}), doc).get("description", ""),
                       "fields": _fields(spec.get("schema", {}), doc)}
                      for media, spec in op.get("requestBody", {}).get("content", {}).items()]
            ops.append({
                "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "scope": op.get("x-scope", ""),
                "params": [{"name": p["name"], "where": p["in"], "required": "yes" if p.get("required") else "",
                            "type": _type(p.get("schema", {}), doc), "rules": _constraints(p.get("schema", {}), doc)}
                           for p in op.get("parameters", [])],
                "bodies": bodies,
                "responses": [{"status": status, "description": r.get("description", ""),
                               "media": ", ".join(r.get("content", {}))}
                              for status, r in op["responses"].items()],
            })
    return ops


def docs(request: HttpRequest) -> HttpResponse:
    doc = build_schema()
    return render(request, "api/docs.html", {"doc": doc, "operations": _operations(doc)})
