"""The polite client: retries, Retry-After, backoff, timeouts, allowlist, robots.txt, rate limit.

Every response is replayed through httpx.MockTransport; sleeps go to a fake clock, so the
waits the client *would* make are asserted exactly without waiting.
"""

import email.utils

import httpx
import pytest

from alslm_ml.sources.http import FetchError, HostNotAllowed, PoliteClient, RobotsDisallowed, retry_after_seconds

ROBOTS = "User-agent: *\nDisallow: /private/\n\nUser-agent: BadBot\nDisallow: /\n"


class FakeClock:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(round(s, 6))
        self.now += s


def make(handler, hosts=("api.example.org",), **kw):
    fc = FakeClock()
    kw.setdefault("rate", 1000.0)  # rate limiting is tested on its own below
    client = PoliteClient(
        hosts, "ALS-LM-tests/0.1", transport=httpx.MockTransport(handler), clock=fc.clock, sleep=fc.sleep, **kw
    )
    return client, fc


def scripted(*responses):
    """A handler replaying responses in order (an Exception instance is raised instead)."""
    seen = []

    def handler(request):
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_429_then_200_honours_retry_after_seconds():
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, text="ok"))
    client, fc = make(handler)
    assert client.get("https://api.example.org/x").text == "ok"
    assert len(seen) == 2 and fc.sleeps == [7.0]
    assert seen[0].headers["User-Agent"] == "ALS-LM-tests/0.1"


def test_retry_after_http_date():
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds(when, now=1_000_000) == pytest.approx(30)
    assert retry_after_seconds("garbage") is None and retry_after_seconds(None) is None


def test_repeated_503_gives_up_after_max_tries_with_exponential_backoff():
    handler, seen = scripted(httpx.Response(503))
    client, fc = make(handler, max_tries=4, backoff=0.5)
    with pytest.raises(FetchError) as err:
        client.get("https://api.example.org/x")
    assert err.value.status == 503 and err.value.attempts == 4 and "after 4 tries" in str(err.value)
    assert len(seen) == 4 and fc.sleeps == [0.5, 1.0, 2.0]  # no sleep after the last try


def test_backoff_is_capped():
    handler, _ = scripted(httpx.Response(502))
    client, fc = make(handler, max_tries=5, backoff=10, max_backoff=15)
    with pytest.raises(FetchError):
        client.get("https://api.example.org/x")
    assert fc.sleeps == [10, 15, 15, 15]


def test_timeout_then_success_and_timeouts_exhausted():
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, text="late"))
    client, fc = make(handler)
    assert client.get("https://api.example.org/x").text == "late" and fc.sleeps == [1.0]

    handler, seen = scripted(httpx.ConnectTimeout("down"))
    client, _ = make(handler, max_tries=3)
    with pytest.raises(FetchError, match="timeout .*after 3 tries"):
        client.get("https://api.example.org/x")
    assert len(seen) == 3


def test_404_is_not_retried():
    handler, seen = scripted(httpx.Response(404))
    client, fc = make(handler)
    with pytest.raises(FetchError, match="HTTP 404"):
        client.get("https://api.example.org/missing")
    assert len(seen) == 1 and fc.sleeps == []


def test_off_allowlist_host_is_refused_without_a_request():
    handler, seen = scripted(httpx.Response(200))
    client, _ = make(handler)
    with pytest.raises(HostNotAllowed, match="evil.example.com.*not in the allowlist"):
        client.get("https://evil.example.com/page")
    assert seen == []


def test_redirect_to_off_allowlist_host_is_refused():
    def handler(request):
        if request.url.host == "api.example.org":
            return httpx.Response(301, headers={"Location": "https://elsewhere.example.net/x"})
        return httpx.Response(200, text="should never be fetched")

    client, _ = make(handler)
    with pytest.raises(HostNotAllowed, match="elsewhere.example.net"):
        client.get("https://api.example.org/moved")


def test_robots_txt_disallow_allow_and_cache():
    seen = []

    def handler(request):
        seen.append(request.url.path)
        if request.url.path == "/robots.txt":
            return httpx.Response(200, text=ROBOTS)
        return httpx.Response(200, text="page")

    client, _ = make(handler)
    with pytest.raises(RobotsDisallowed, match="robots.txt"):
        client.get("https://api.example.org/private/notes", robots=True)
    assert client.get("https://api.example.org/public/page", robots=True).text == "page"
    assert seen.count("/robots.txt") == 1 and "/private/notes" not in seen
    # robots=False (documented APIs) skips the check
    assert client.get("https://api.example.org/private/api", robots=False).text == "page"


@pytest.mark.parametrize("status, allowed", [(404, True), (503, False)])
def test_robots_unavailable_vs_unreachable(status, allowed):
    """RFC 9309: a 4xx robots.txt means no restrictions; 5xx means assume complete disallow."""

    def handler(request):
        if request.url.path == "/robots.txt":
            return httpx.Response(status)
        return httpx.Response(200, text="page")

    client, _ = make(handler, max_tries=2)
    if allowed:
        assert client.get("https://api.example.org/a", robots=True).status_code == 200
    else:
        with pytest.raises(RobotsDisallowed):
            client.get("https://api.example.org/a", robots=True)


def test_per_host_rate_limit_spaces_requests():
    handler, _ = scripted(httpx.Response(200))
    client, fc = make(handler, hosts=("a.example.org", "b.example.org"), rate=2.0, host_rates={"b.example.org": 0.5})
    for _ in range(3):
        client.get("https://a.example.org/x")
    assert fc.sleeps == [0.5, 0.5]  # 2 req/s on host a
    client.get("https://b.example.org/x")  # a different host has its own slot: no wait
    client.get("https://b.example.org/x")
    assert fc.sleeps == [0.5, 0.5, 2.0]  # 0.5 req/s on host b
    assert client.requests == 5 and client.waited == pytest.approx(3.0)


def test_user_agent_required():
    with pytest.raises(ValueError, match="user_agent"):
        PoliteClient(["a.example.org"], "  ")
