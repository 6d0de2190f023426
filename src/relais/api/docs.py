"""The API documentation page: the OpenAPI document rendered on the server.

Swagger UI would need a CDN and inline script, which the CSP and the offline rule both
forbid; this page lists the same operations, parameters, schemas and errors as plain
HTML built from the very document served at /api/v1/openapi.json.
"""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from relais.api.problems import PROBLEM_TYPES
from relais.api.v1 import api

REF_PREFIX = "#/components/schemas/"


def describe_type(schema: dict) -> dict:
    """{"text": human type, "ref": schema name or ""} for one JSON-schema fragment."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF_PREFIX)
        return {"text": name, "ref": name}
    if "anyOf" in schema:
        parts = [describe_type(part) for part in schema["anyOf"]]
        refs = [part["ref"] for part in parts if part["ref"]]
        return {"text": " or ".join(part["text"] for part in parts), "ref": refs[0] if refs else ""}
    if schema.get("type") == "array":
        inner = describe_type(schema.get("items", {}))
        return {"text": f"array of {inner['text']}", "ref": inner["ref"]}
    text = schema.get("type", "any")
    if "format" in schema:
        text += f" ({schema['format']})"
    return {"text": text, "ref": ""}


def constraints(schema: dict) -> list[str]:
    found = []
    if "enum" in schema:
        found.append("one of: " + ", ".join(str(value) for value in schema["enum"]))
    for key, label in (("maxLength", "max length"), ("minimum", "min"), ("maximum", "max")):
        if key in schema:
            found.append(f"{label} {schema[key]}")
    if "default" in schema and schema["default"] not in ("", None):
        found.append(f"default {schema['default']}")
    return found


def schema_rows(schema: dict) -> list[dict]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": describe_type(prop),
            "required": name in required,
            "constraints": constraints(prop),
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def first_value(mapping: dict) -> dict:
    """The first entry's value (OpenAPI's content maps: one media type), or {}."""
    return next(iter(mapping.values()), {})


def operations(document: dict) -> list[dict]:
    found = []
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {})
            body_schema = first_value(body).get("schema") if body else None
            found.append(
                {
                    "anchor": operation.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "secured": bool(operation.get("security")),
                    "parameters": [
                        {
                            "name": param["name"],
                            "location": param["in"],
                            "required": param.get("required", False),
                            "type": describe_type(param.get("schema", {})),
                            "constraints": constraints(param.get("schema", {})),
                            "description": param.get("description", ""),
                        }
                        for param in operation.get("parameters", [])
                    ],
                    "body": describe_type(body_schema) if body_schema else None,
                    "responses": [
                        {
                            "status": status,
                            "description": response.get("description", ""),
                            "content_type": next(iter(response.get("content", {})), ""),
                            "type": describe_type(
                                first_value(response.get("content", {})).get("schema", {})
                            )
                            if response.get("content")
                            else None,
                        }
                        for status, response in sorted(operation.get("responses", {}).items())
                    ],
                }
            )
    return found


@require_GET
def docs_page(request):
    document = api.get_openapi_schema()
    schemes = document.get("components", {}).get("securitySchemes", {})
    context = {
        "info": document.get("info", {}),
        "operations": operations(document),
        "schemas": [
            {
                "name": name,
                "description": schema.get("description", ""),
                "rows": schema_rows(schema),
            }
            for name, schema in document.get("components", {}).get("schemas", {}).items()
        ],
        "security_schemes": [{"name": name, **scheme} for name, scheme in schemes.items()],
        "problems": [
            {"slug": slug, "status": status, "title": title}
            for slug, (status, title) in PROBLEM_TYPES.items()
        ],
    }
    return render(request, "api/docs.html", context)
