"""A polite HTTP client shared by every scraper.

Politeness is the scraper's contract with the sites it reads: a descriptive User-Agent, a
per-host request rate, robots.txt honoured for web pages, retries that back off (and wait as
long as the server asks with Retry-After) instead of hammering a struggling host, and an
allowlist so a typo or a redirect can never send the crawler somewhere nobody reviewed.

Transport, clock and sleep are injectable so tests replay recorded responses and check the
waits without sleeping or touching the network.
"""

from __future__ import annotations

import email.utils
import time
import urllib.robotparser
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx

RETRY_STATUS = {429, 500, 502, 503, 504}


class DeadlineExceeded(Exception):
    """One attempt ran past PoliteClient.deadline (retried like a timeout)."""


class HostNotAllowed(ValueError):
    """The URL's host is not in the configured allowlist (sources.yaml)."""


class FetchError(RuntimeError):
    """A request that failed for good: non-retryable status, or retries exhausted."""

    def __init__(self, url: str, reason: str, status: int | None = None, attempts: int = 1):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.status, self.attempts = url, reason, status, attempts


class RobotsDisallowed(FetchError):
    """robots.txt of the host forbids our User-Agent from fetching this path."""


class SchemeDowngrade(FetchError):
    """A redirect from https to plain http: refused, the content could be tampered with."""


class TooLarge(FetchError):
    """The response body is over the byte limit; it is not read further (and not retried)."""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class PoliteClient:
    """httpx.Client wrapper: allowlist, per-host rate limit, robots.txt, retries with backoff.

    rate: requests per second per host (host_rates overrides it per host).
    max_tries: attempts per request (the first included) on 429/5xx/timeouts/connection errors.
    backoff: first retry delay in seconds, doubled on each further retry, capped at max_backoff;
    a Retry-After header replaces the computed delay (capped at max_retry_after).
    max_bytes: a response body is streamed and dropped past this size (TooLarge), so one huge or
    endless response cannot fill memory. deadline: wall-clock seconds for one attempt, body
    included (httpx's `timeout` bounds each read, not a server that drips bytes forever).
    Redirects are followed only to allowed hosts and never from https to http.
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        user_agent: str,
        rate: float = 1.0,
        host_rates: dict[str, float] | None = None,
        max_tries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 600.0,
        timeout: float = 30.0,
        max_bytes: int = 64 * 1024 * 1024,
        deadline: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not user_agent.strip():
            raise ValueError("PoliteClient: user_agent must name the project and a contact")
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.user_agent = user_agent
        self.rate, self.host_rates = rate, dict(host_rates or {})
        self.max_tries, self.backoff, self.max_backoff = max_tries, backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.max_bytes, self.deadline = max_bytes, deadline
        self.clock, self.sleep = clock, sleep
        self._next_slot: dict[str, float] = {}
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self.requests = 0  # requests actually sent, retries included
        self.waited = 0.0  # seconds slept (rate limit + backoff)
        self._client = httpx.Client(
            headers={"User-Agent": user_agent},
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
            event_hooks={"request": [self._check_host], "response": [self._check_redirect]},  # run for redirects too
        )

    # -- allowlist / rate limit ------------------------------------------------------------
    def check_allowed(self, url: str) -> str:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.allowed_hosts:
            raise HostNotAllowed(
                f"refusing to fetch {url}: host {host!r} is not in the allowlist "
                f"({', '.join(sorted(self.allowed_hosts)) or 'empty'}); add it to sources.yaml"
            )
        return host

    def _check_host(self, request: httpx.Request) -> None:
        self.check_allowed(str(request.url))

    def _check_redirect(self, response: httpx.Response) -> None:
        if not response.has_redirect_location:
            return
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:  # httpx reads a redirect's body whole
            raise TooLarge(str(response.request.url), f"redirect body of {int(declared):,} bytes is over the limit",
                           response.status_code, 1)
        src = response.request.url
        target = src.join(response.headers["Location"])
        if src.scheme == "https" and target.scheme != "https":
            raise SchemeDowngrade(str(src), f"refusing a redirect from https to {target.scheme} ({target})",
                                  response.status_code, 1)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited += seconds
            self.sleep(seconds)

    def _throttle(self, host: str) -> None:
        interval = 1.0 / self.host_rates.get(host, self.rate)
        now = self.clock()
        slot = self._next_slot.get(host, now)
        if slot > now:
            self._wait(slot - now)
            now = slot
        self._next_slot[host] = now + interval

    # -- robots.txt --------------------------------------------------------------------------
    def allowed_by_robots(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(origin)
        if parser is None:
            parser = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
            try:
                resp = self._send("GET", origin + "/robots.txt", None)
                status, body = resp.status_code, resp.text
            except FetchError as exc:
                status, body = exc.status or 599, ""
            if status >= 500:  # RFC 9309 2.3.1.4: unreachable -> assume complete disallow
                parser.parse(["User-agent: *", "Disallow: /"])
            elif status >= 400:  # 2.3.1.3: unavailable (404 etc.) -> no restrictions
                parser.parse([])
            else:
                parser.parse(body.splitlines())
            self._robots[origin] = parser
        return parser.can_fetch(self.user_agent, url)

    # -- requests ----------------------------------------------------------------------------
    def get(self, url: str, params: dict | None = None, robots: bool = False) -> httpx.Response:
        """GET with politeness; returns a 2xx response or raises FetchError / HostNotAllowed.

        robots=True checks robots.txt first (web pages); documented APIs (E-utilities,
        ClinicalTrials.gov, MediaWiki) are called with robots=False.
        """
        self.check_allowed(url)
        if robots and not self.allowed_by_robots(url):
            raise RobotsDisallowed(url, "disallowed by robots.txt", status=None, attempts=0)
        resp = self._send("GET", url, params)
        if resp.status_code >= 400:
            raise FetchError(url, f"HTTP {resp.status_code}", resp.status_code, 1)
        return resp

    def _send(self, method: str, url: str, params: dict | None) -> httpx.Response:
        host = self.check_allowed(url)
        reason, status = "", None
        for attempt in range(1, self.max_tries + 1):
            self._throttle(host)
            self.requests += 1
            try:
                resp = self._request(method, url, params)
            except HostNotAllowed:
                raise
            except DeadlineExceeded:
                reason, status, delay = f"no complete response within the {self.deadline:g} s deadline", None, None
            except httpx.TimeoutException as exc:
                reason, status, delay = f"timeout ({type(exc).__name__})", None, None
            except httpx.TransportError as exc:
                reason, status, delay = f"connection error ({type(exc).__name__}: {exc})", None, None
            else:
                if resp.status_code not in RETRY_STATUS:
                    return resp
                reason, status = f"HTTP {resp.status_code}", resp.status_code
                delay = retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt == self.max_tries:
                break
            if delay is None:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            else:
                delay = min(delay, self.max_retry_after)
            self._wait(delay)
        raise FetchError(url, f"{reason} after {self.max_tries} tries", status, self.max_tries)

    def _request(self, method: str, url: str, params: dict | None) -> httpx.Response:
        """One attempt: stream the body, stopping at max_bytes and at the deadline."""
        start = time.monotonic()
        request = self._client.build_request(method, url, params=params)
        resp = self._client.send(request, stream=True)
        try:
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise TooLarge(url, f"response of {int(declared):,} bytes is over the {self.max_bytes:,}-byte limit",
                               resp.status_code, 1)
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise TooLarge(url, f"response is over the {self.max_bytes:,}-byte limit; stopped reading",
                                   resp.status_code, 1)
                if time.monotonic() - start > self.deadline:
                    raise DeadlineExceeded(url)
                chunks.append(chunk)
            if time.monotonic() - start > self.deadline:
                raise DeadlineExceeded(url)
            resp._content = b"".join(chunks)  # what Response.read() sets; .text/.json() work as usual
        finally:
            resp.close()
        return resp

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
