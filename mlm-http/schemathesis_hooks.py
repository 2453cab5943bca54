"""Hooks for scripts/schemathesis.sh (loaded through `hooks` in schemathesis.toml).

`POST /v1/endpoints/{endpoint}/baselines` also takes JSON Lines (`application/x-ndjson`),
which schemathesis has no serializer for. The spec describes that body as text: a string goes
on the wire as its UTF-8 bytes. A value that is not a string (negative tests generate `false`,
`0`, `[]` against the text schema) has no text form — written out, `false` would be the
string "false", which is valid — so it is sent as no body at all, which the route must refuse.

`PUT /v1/pipelines/{pipeline}` takes the pipeline file as YAML (`application/yaml`) too: a
value is written as YAML (JSON is YAML, so the server reads what it would from JSON).

`POST /v1/models/{model}/artifacts` takes a `model.tar.gz` (`application/gzip`), described as
binary: bytes go as they are, a string as its UTF-8 bytes, anything else as no body.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def json_lines(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return None


@schemathesis.serializer("application/yaml")
def yaml_file(ctx, value):
    if isinstance(value, bytes):
        return value
    # JSON is YAML: one writer, exactly the value (no YAML tags or anchors).
    return json.dumps(value).encode("utf-8")


@schemathesis.serializer("application/gzip")
def archive(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return None
