"""The HTTP seam every remote source goes through (ClinicalTrials.gov, FHIR servers, token endpoints, JWKS).

One retry policy and deadline (`retry`), one capped body reader (`body`), one URL policy (`urls`), and one
client factory and send-with-policy (`transport`); `jwks` loads key sets through it.
"""

from adapter.http.body import BodyTooLarge, NotJson, clean_text, decode_json, read_body, read_capped
from adapter.http.jwks import load_jwks
from adapter.http.retry import Deadline, RetryPolicy, retry_after_seconds
from adapter.http.transport import USER_AGENT, Reply, new_client, send
from adapter.http.urls import is_loopback, is_under, join_raw, origin_of, parse_origin, require_secure

__all__ = [
    "USER_AGENT",
    "BodyTooLarge",
    "Deadline",
    "NotJson",
    "Reply",
    "RetryPolicy",
    "clean_text",
    "decode_json",
    "is_loopback",
    "is_under",
    "join_raw",
    "load_jwks",
    "new_client",
    "origin_of",
    "parse_origin",
    "read_body",
    "read_capped",
    "require_secure",
    "retry_after_seconds",
    "send",
]
