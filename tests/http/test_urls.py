import pytest

from adapter.errors import AuthError, FetchError
from adapter.http import is_loopback, is_under, join_raw, require_secure

pytestmark: list[pytest.MarkDecorator] = []

BASE = "https://a.org/fhir/r4"


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        # the base itself and what is below it
        (BASE, "https://a.org/fhir/r4", True),
        (BASE, "https://a.org/fhir/r4/", True),
        (BASE, "https://a.org/fhir/r4/Patient/1", True),
        (BASE, "https://a.org/fhir/r4?_getpages=x", True),
        (BASE, "https://a.org/fhir/r4/Observation?code=a%7Cb&page=2", True),
        (BASE + "/", "https://a.org/fhir/r4", True),  # trailing slashes on the base do not matter
        (BASE + "//", "https://a.org/fhir/r4/Patient", True),
        ("https://a.org", "https://a.org/anything", True),
        ("https://a.org/", "https://a.org", True),
        # host case and default ports
        (BASE, "https://A.ORG/fhir/r4/Patient", True),
        ("https://A.org/fhir/r4", "https://a.org/fhir/r4/Patient", True),
        (BASE, "https://a.org:443/fhir/r4/Patient", True),
        ("https://a.org:443/fhir/r4", "https://a.org/fhir/r4/Patient", True),
        ("http://a.org/fhir", "http://a.org:80/fhir/Patient", True),
        ("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/fhir/Patient", True),
        ("https://[::1]:8443/fhir", "https://[::1]:8443/fhir/x", True),
        # unreserved characters may be percent-encoded, and hex case does not matter
        (BASE, "https://a.org/fhir/%724/Patient", True),
        ("https://a.org/fhir/a%3Ab", "https://a.org/fhir/a%3ab/x", True),
        # another origin
        (BASE, "http://a.org/fhir/r4/Patient", False),
        (BASE, "https://a.org:8443/fhir/r4/Patient", False),
        ("https://a.org:8443/fhir/r4", "https://a.org/fhir/r4/Patient", False),
        (BASE, "https://b.org/fhir/r4/Patient", False),
        (BASE, "https://a.org.evil.test/fhir/r4/Patient", False),
        (BASE, "ftp://a.org/fhir/r4/Patient", False),
        # a path that is not below on a segment boundary
        (BASE, "https://a.org/fhir/r4x", False),
        (BASE, "https://a.org/fhir/r4x/Patient", False),
        (BASE, "https://a.org/fhir", False),
        (BASE, "https://a.org/fhir/", False),
        (BASE, "https://a.org/FHIR/r4/Patient", False),  # paths are case-sensitive
        # dot segments in any spelling
        (BASE, "https://a.org/fhir/r4/%2e%2e/admin", False),
        (BASE, "https://a.org/fhir/r4/%2E%2e/admin", False),
        (BASE, "https://a.org/fhir/r4/%2E%2E/admin", False),
        (BASE, "https://a.org/fhir/r4/.%2e/admin", False),
        (BASE, "https://a.org/fhir/r4/%2e./admin", False),
        (BASE, "https://a.org/fhir/r4/%2e/Patient", False),
        (BASE, "https://a.org/fhir/r4/../admin", False),
        (BASE, "https://a.org/fhir/r4/x/../Patient", False),  # would resolve under the base: refused all the same
        (BASE, "https://a.org/fhir/r4/./Patient", False),
        (BASE, "https://a.org/fhir/r4/..", False),
        (BASE, "https://a.org/fhir/r4/..;x/admin", False),
        (BASE, "https://a.org/fhir/r4/%252e%252e/admin", False),  # double-encoded
        # hidden separators, backslashes, userinfo, fragments, junk
        (BASE, "https://a.org/fhir/r4/%2f..%2fadmin", False),
        (BASE, "https://a.org/fhir/r4/%2F", False),
        (BASE, "https://a.org/fhir/r4/%5c..%5cadmin", False),
        (BASE, "https://a.org/fhir/r4\\..\\admin", False),
        (BASE, "https://a.org/fhir/r4/x\\y", False),
        (BASE, "https://user@a.org/fhir/r4/Patient", False),
        (BASE, "https://user:pw@a.org/fhir/r4/Patient", False),
        (BASE, "https://a.org/fhir/r4/Patient#x", False),
        (BASE, "https://a.org/fhir/r4/Patient#", False),
        (BASE, "https://a.org/fhir/r4/%zz", False),
        (BASE, "https://a.org/fhir/r4/%00", False),
        (BASE, "https://a.org/fhir/r4/Pa tient", False),
        (BASE, " https://a.org/fhir/r4/Patient", False),
        (BASE, "https://a.org:99999/fhir/r4", False),
        (BASE, "/fhir/r4/Patient", False),
        (BASE, "", False),
        (BASE, None, False),
        # a base that is not usable is never matched
        ("https://a.org/fhir/r4?x=1", "https://a.org/fhir/r4/Patient", False),
        ("https://a.org/fhir/%2e%2e", "https://a.org/fhir/%2e%2e/x", False),
        ("not a url", "https://a.org/fhir/r4/Patient", False),
    ],
)
def test_is_under(base, url, expected):
    assert is_under(base, url) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
     ("[::1]", True), ("10.0.0.1", False), ("example.org", False), ("localhost.example.org", False)],
)  # fmt: skip
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    "url", ["https://a.org/x", "http://localhost:8080/fhir", "http://127.0.0.1/token", "http://[::1]:9000/jwks"]
)
def test_require_secure_accepts(url):
    require_secure(url, "thing")


@pytest.mark.parametrize("url", ["http://a.org/x", "http://10.0.0.1/fhir", "http://localhost.evil.test/x"])
def test_require_secure_refuses_plain_http(url):
    with pytest.raises(FetchError, match="plain http"):
        require_secure(url, "thing")


def test_require_secure_error_class_and_unusable_urls():
    with pytest.raises(AuthError, match=r"token endpoint http://a\.org/t: plain http"):
        require_secure("http://a.org/t", "token endpoint", error=AuthError)
    for bad in ("ftp://a.org/x", "not a url", "https://u:p@a.org/x"):
        with pytest.raises(FetchError, match="not a usable"):
            require_secure(bad, "thing")


@pytest.mark.parametrize(
    ("page", "link", "expected"),
    [
        ("https://a.org/fhir/", "Observation?page=2", "https://a.org/fhir/Observation?page=2"),
        ("https://a.org/fhir/Observation?page=1", "?page=2", "https://a.org/fhir/Observation?page=2"),
        ("https://a.org/fhir/", "/admin", "https://a.org/admin"),
        ("https://a.org/fhir/", "//evil.test/x", "https://evil.test/x"),
        ("https://a.org/fhir/", "https://b.org/y", "https://b.org/y"),
        ("https://a.org/fhir/", "x/../../admin", "https://a.org/fhir/x/../../admin"),  # dots kept for is_under
        ("https://a.org/fhir/", " Patient ", "https://a.org/fhir/Patient"),
    ],
)
def test_join_raw(page, link, expected):
    assert join_raw(page, link) == expected
