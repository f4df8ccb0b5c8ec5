"""The endpoint a getAPISession answer returns only receives the session (and the sender password)
when it is the configured endpoint's own scheme, host and port, or https://*.intacct.com on 443;
urllib3 and urlsplit must read it alike. A redirect is never a valid endpoint_url either."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from intacct_sync.intacct import IntacctClient, IntacctCredentials, SessionCache
from local.demo_credentials import sandbox_credentials

REAL = "https://api.intacct.com/ia/xml/xmlgw.phtml"
LOCAL = "http://127.0.0.1:8123/ia/xml/xmlgw.phtml"

HOSTILE = [
    # userinfo: urlsplit says api.intacct.com, urllib3 connects to evil.com
    "https://evil.com\\@api.intacct.com/ia/xml/xmlgw.phtml",
    "https://evil.com@api.intacct.com/ia/xml/xmlgw.phtml",
    "https://api.intacct.com@evil.com/ia/xml/xmlgw.phtml",
    "https://user:pw@api.intacct.com/ia/xml/xmlgw.phtml",
    "https://evil.com%2F@api.intacct.com/",
    "https://evil.com%40api.intacct.com/",
    "https://api.intacct.com%2F.evil.com/",
    "https://evil.com\\.intacct.com/",
    "https://evil.com/\\api.intacct.com/",
    # other scheme or port on an Intacct host
    "http://api.intacct.com/ia/xml/xmlgw.phtml",
    "ftp://api.intacct.com/ia/xml/xmlgw.phtml",
    "https://api.intacct.com:8443/ia/xml/xmlgw.phtml",
    "https://api.intacct.com:80/ia/xml/xmlgw.phtml",
    "https://api.intacct.com:99999/",
    "https://api.intacct.com:x/",
    # look-alike hosts
    "https://api.intacct.com.evil.com/ia/xml/xmlgw.phtml",
    "https://evilintacct.com/ia/xml/xmlgw.phtml",
    "https://intacct.com.evil.com/",
    "https://api.intacct.com./ia/xml/xmlgw.phtml",
    "https://api.intacct.com../",
    "https://.intacct.com/",
    "https://api..intacct.com/",
    "https://api.intacct.c\u03bfm/",  # Greek omicron
    "https://\u0430pi.intacct.com/",  # Cyrillic a
    "https://api.\uff49ntacct.com/",  # fullwidth i
    "https://xn--api-evil.com/",
    "https://[::1]/",
    "https://127.0.0.1/",
    # whitespace and control characters
    "https://api.intacct.com\n.evil.com/",
    "https://evil.com\t.intacct.com/",
    "https://evil.com .intacct.com/",
    "https://api.intacct.com/\r\nX-Injected: 1",
    "https://api.intacct.com\x00.evil.com/",
    # not a URL at all
    "//api.intacct.com/ia/xml/xmlgw.phtml",
    "https:api.intacct.com",
    "https:///api.intacct.com/",
    "javascript:alert(1)",
]
ACCEPTED = [
    "https://api.intacct.com/ia/xml/xmlgw.phtml",
    "https://api.intacct.com:443/ia/xml/xmlgw.phtml",
    "https://API.Intacct.COM/ia/xml/xmlgw.phtml",
    "https://na1.api.intacct.com/ia/xml/xmlgw.phtml",
    "https://intacct.com/ia/xml/xmlgw.phtml",
]


def client(endpoint_url: str) -> IntacctClient:
    creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": endpoint_url})
    return IntacctClient(creds, sessions=SessionCache())


def element(url: str) -> ET.Element:
    el = ET.Element("endpoint")
    el.text = url
    return el


@pytest.mark.parametrize("url", HOSTILE)
@pytest.mark.parametrize("configured", [REAL, LOCAL], ids=["real", "local-sandbox"])
def test_a_hostile_session_endpoint_is_refused_for_the_configured_one(url: str, configured: str) -> None:
    assert client(configured)._trusted_endpoint(element(url)) == configured


@pytest.mark.parametrize("url", ACCEPTED)
@pytest.mark.parametrize("configured", [REAL, LOCAL], ids=["real", "local-sandbox"])
def test_intacct_https_endpoints_on_443_are_used(url: str, configured: str) -> None:
    assert client(configured)._trusted_endpoint(element(url)) == url


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://127.0.0.1:8123/na1/ia/xml/xmlgw.phtml", True),
        ("  http://127.0.0.1:8123/na1/ia/xml/xmlgw.phtml\n", True),  # surrounding whitespace is layout
        ("http://127.0.0.1:8124/na1/ia/xml/xmlgw.phtml", False),  # same host, other port
        ("https://127.0.0.1:8123/na1/ia/xml/xmlgw.phtml", False),  # same host and port, other scheme
        ("http://127.0.0.1/na1/ia/xml/xmlgw.phtml", False),
        ("http://127.0.0.1:8124\\@127.0.0.1:8123/", False),
        ("http://127.0.0.1:8124@127.0.0.1:8123/", False),
    ],
)
def test_the_local_sandbox_rule_is_same_scheme_host_and_port(url: str, accepted: bool) -> None:
    assert client(LOCAL)._trusted_endpoint(element(url)) == (url.strip() if accepted else LOCAL)


def test_a_same_host_endpoint_on_another_port_or_scheme_is_refused_for_the_real_gateway() -> None:
    c = client(REAL)
    for url in ("http://api.intacct.com/ia/xml/xmlgw.phtml", "https://api.intacct.com:8443/x"):
        assert c._trusted_endpoint(element(url)) == REAL


def test_a_refused_endpoint_is_logged_without_its_userinfo(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client(REAL)._trusted_endpoint(element("https://s3cret-user:s3cret-pw@evil.example/x"))
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert "s3cret" not in text and "evil.example" not in text
    assert any("session endpoint" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@api.intacct.com/ia/xml/xmlgw.phtml",
        "https://evil.com\\@api.intacct.com/",
        "https://api.intacct.com /x",
        "https://api.intacct.com:99999/",
    ],
)
def test_the_configured_endpoint_url_must_be_plain(url: str) -> None:
    from intacct_sync.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="endpoint_url") as info:
        IntacctCredentials.from_secret({**sandbox_credentials(), "endpoint_url": url})
    assert "pw@" not in str(info.value)
