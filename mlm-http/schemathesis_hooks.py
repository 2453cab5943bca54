"""Hooks for scripts/schemathesis.sh (loaded through `hooks` in schemathesis.toml).

`POST /v1/endpoints/{endpoint}/baselines` also takes JSON Lines (`application/x-ndjson`),
which schemathesis has no serializer for. The spec describes that body as text: a string goes
on the wire as its UTF-8 bytes. A value that is not a string (negative tests generate `false`,
`0`, `[]` against the text schema) has no text form — written out, `false` would be the
string "false", which is valid — so it is sent as no body at all, which the route must refuse.
"""

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def json_lines(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return None
