"""A small OpenAPI 3 checker for the fake's traffic, against the trimmed official spec.

The spec is read from $PI_DDNS_OPENAPI or <repo>/../shared/cloudflare/dns-openapi.json and is never
copied into the repo.  It handles the JSON-schema subset that spec uses: type, nullable, enum,
required, properties, items, $ref, allOf, anyOf/oneOf (a record body picks its branch by `type`),
readOnly, maxLength, minimum/maximum and the ipv4/ipv6 formats.  Requests are checked strictly
(unknown query parameters and body properties are problems); responses are checked leniently
(extra fields are allowed, as JSON schema allows them).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any

Schema = dict[str, Any]


def spec_path() -> Path:
    env = os.environ.get("PI_DDNS_OPENAPI")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "cloudflare" / "dns-openapi.json"


def find_spec() -> Schema | None:
    """The parsed spec, or None when the file is absent (the check is then skipped)."""
    try:
        data = json.loads(spec_path().read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _type_ok(value: Any, t: str) -> bool:
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "object": dict, "array": list}
    return isinstance(value, kinds.get(t, object))


class SpecChecker:
    def __init__(self, spec: Schema) -> None:
        self.spec = spec
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p, ops)
                       for p, ops in spec.get("paths", {}).items()]

    def resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def _operation(self, method: str, path: str) -> tuple[Schema | None, list[str]]:
        for rx, template, ops in self.routes:
            if rx.match(path):
                op = ops.get(method.lower())
                if op is None:
                    return None, [f"{method} not allowed on {template}"]
                return op, []
        return None, [f"{method} {path}: path not in the spec"]

    # ---- requests -----------------------------------------------------------------------
    def check_request(self, method: str, path: str, query: dict[str, str], body: Any,
                      raw: bytes = b"") -> list[str]:
        op, problems = self._operation(method, path)
        if op is None:
            return problems
        params = {}
        for ref in op.get("parameters", []):
            p = self.resolve(ref)
            if p.get("in") == "query":
                params[p["name"]] = p
        for name, text in query.items():
            if name not in params:
                problems.append(f"query parameter {name!r} is not in the spec")
                continue
            value = _coerce(text, self.resolve(params[name].get("schema", {})))
            problems += self.validate(value, params[name].get("schema", {}), f"query {name}", True)
        rb = op.get("requestBody")
        schema = (rb or {}).get("content", {}).get("application/json", {}).get("schema")
        if body is not None and not isinstance(body, (dict, list, str, int, float, bool)):
            problems.append("request body is not JSON")
        elif body is None and rb and rb.get("required") and schema:
            problems.append("request body is required")
        elif body is not None and rb is None:
            problems.append("request body sent where the spec has none")
        elif body is not None and schema:
            problems += self.validate(body, schema, "body", True)
        return problems

    # ---- responses ----------------------------------------------------------------------
    def check_response(self, method: str, path: str, status: int, payload: Any) -> list[str]:
        op, _ = self._operation(method, path)
        if op is None:
            return []
        responses = op.get("responses", {})
        resp = responses.get(str(status)) or responses.get(f"{status // 100}XX")
        if resp is None:
            return [f"status {status} is not documented"] if status < 500 else []
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        return self.validate(payload, schema, "response", False) if schema else []

    # ---- the schema subset --------------------------------------------------------------
    def validate(self, value: Any, schema: Schema, where: str, request: bool,
                 check_unknown: bool = True) -> list[str]:
        schema = self.resolve(schema)
        if value is None:
            ok = schema.get("nullable") or None in schema.get("enum", []) or "type" not in schema
            return [] if ok else [f"{where}: null is not allowed"]
        errs: list[str] = []
        for sub in schema.get("allOf", []):
            errs += self.validate(value, sub, where, request, False)
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches:
            chosen = self._pick(branches, value, where, request)
            if chosen is None:
                errs.append(f"{where}: matches none of {len(branches)} alternatives")
            else:
                errs += self.validate(value, chosen, where, request, False)
        t = schema.get("type")
        if t and not _type_ok(value, t):
            return [*errs, f"{where}: expected {t}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            errs.append(f"{where}: {value!r} not one of {schema['enum']}")
        if isinstance(value, str):
            if len(value) > schema.get("maxLength", 1 << 30):
                errs.append(f"{where}: longer than {schema['maxLength']}")
            fmt = schema.get("format")
            if fmt in ("ipv4", "ipv6") and not _is_ip(value, fmt):
                errs.append(f"{where}: {value!r} is not an {fmt} address")
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if _type_ok(value, "number") and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            errs.append(f"{where}: {value} outside [{lo}, {hi}]")
        if isinstance(value, dict):
            errs += self._object(value, schema, where, request, check_unknown)
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                errs += self.validate(item, schema["items"], f"{where}[{i}]", request)
        return errs

    def _object(self, value: dict[str, Any], schema: Schema, where: str, request: bool,
                check_unknown: bool) -> list[str]:
        errs = [f"{where}: missing required {k!r}" for k in schema.get("required", []) if k not in value]
        for k, sub in schema.get("properties", {}).items():
            if k not in value:
                continue
            if request and self.resolve(sub).get("readOnly"):
                errs.append(f"{where}.{k}: read-only property sent in a request")
            errs += self.validate(value[k], sub, f"{where}.{k}", request)
        if request and check_unknown:
            known = self._all_properties(schema, value)
            errs += [f"{where}.{k}: property not in the spec" for k in value if k not in known]
        return errs

    def _all_properties(self, schema: Schema, value: Any) -> set[str]:
        schema = self.resolve(schema)
        names = set(schema.get("properties", {}))
        for sub in schema.get("allOf", []):
            names |= self._all_properties(sub, value)
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches:
            chosen = self._pick(branches, value, "", True)
            if chosen is not None:
                names |= self._all_properties(chosen, value)
        return names

    def _type_enum(self, schema: Schema) -> list[Any]:
        schema = self.resolve(schema)
        found = list(self.resolve(schema.get("properties", {}).get("type", {})).get("enum", []))
        for sub in schema.get("allOf", []):
            found += self._type_enum(sub)
        return found

    def _pick(self, branches: list[Schema], value: Any, where: str, request: bool) -> Schema | None:
        if isinstance(value, dict) and "type" in value:
            for b in branches:
                if value["type"] in self._type_enum(b):
                    return b
        for b in branches:
            if not self.validate(value, b, where, request, False):
                return b
        return None


def _is_ip(text: str, fmt: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == (4 if fmt == "ipv4" else 6)
    except ValueError:
        return False


def _coerce(text: str, schema: Schema) -> Any:
    t = schema.get("type")
    if t in ("number", "integer"):
        try:
            return float(text) if t == "number" else int(text)
        except ValueError:
            return text
    if t == "boolean" and text in ("true", "false"):
        return text == "true"
    return text
