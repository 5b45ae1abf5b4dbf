"""A small client of the RabbitMQ management HTTP API (https://www.rabbitmq.com/docs/http-api-reference).

Amazon MQ serves the API at the broker's console endpoint, over HTTPS on port 443; it is
authenticated with HTTP basic auth as the admin user. Certificates are always verified, against
the system's CAs or a given CA file; plain http is accepted only for a broker on this machine or
at a private address (a local or Testcontainers broker), never for a host name on a network.

The client follows no redirect: urllib's would resend the Authorization header to wherever
the answer points, another host or plain http included. A broker that is not answering yet
(502, 503 or 504 from its load balancer; a name that does not resolve yet, a refused, reset or
timed-out connection, all seen right after Amazon MQ reports a new broker RUNNING) is retried
with capped exponential backoff for `retry_for` seconds in all, from the client's first such
failure; a refusal (any other 4xx or 5xx, a wrong password, a certificate) never is.

Every failure becomes a `AdminError` whose one line names the cause and the fix, and never
shows a password, not even one written into a URL.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from .errors import AdminError

DEFAULT_TIMEOUT = 30.0
_RETRIED_STATUSES = {502, 503, 504}  # a broker busy starting or behind a balancer that is
# What a broker that is still coming up does to a connection, as opposed to refusing it.
_TRANSIENT = (socket.gaierror, ConnectionError, TimeoutError, ssl.SSLEOFError)
_FIRST_DELAY, _MAX_DELAY = 1.0, 30.0  # seconds: 1, 2, 4, ..., 30, 30, ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # urllib then raises the 3xx answer as an HTTPError


class ManagementClient:
    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        ca_file: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_for: float = 0.0,
        credentials_hint: str = "check the admin user name and password",
    ) -> None:
        """`url` is the API's root, the broker's console URL (https://b-....mq.<region>.amazonaws.com)
        or http://localhost:15672; `retry_for` is how long, in seconds, to retry a broker that is
        not answering yet (none by default: a person at a command line runs it again);
        `credentials_hint` says where the credentials came from, for the line a refused login gives."""
        parts = urlsplit(url)
        shown = redacted(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise AdminError(f"management URL {shown!r} is not an https:// URL of the broker's management API")
        if parts.username is not None or parts.password is not None:
            raise AdminError(
                f"management URL {shown!r} holds a user name or password: remove them from the URL, the client "
                "sends its credentials itself"
            )
        if parts.scheme == "http" and not is_local_host(parts.hostname):
            raise AdminError(
                f"management URL {shown!r} is plain http to a host on the network: use https:// "
                "(http:// is accepted only for a broker on this machine or at a private address)"
            )
        if ca_file and parts.scheme != "https":
            raise AdminError("a CA file only applies to an https:// management URL")
        self.url = url.rstrip("/")
        self.username = username
        self.timeout = timeout
        self.retry_for = retry_for
        self._retry_until: float | None = None  # set at the first failure worth retrying
        self.credentials_hint = credentials_hint
        self._authorization = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        context = None
        if parts.scheme == "https":
            try:
                context = ssl.create_default_context(cafile=ca_file)  # CERT_REQUIRED, host name checked
            except OSError as exc:
                raise AdminError(f"cannot read the CA file {ca_file}: {exc.strerror or exc}") from None
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirects)

    def __repr__(self) -> str:
        return f"ManagementClient({self.url!r}, user {self.username!r})"

    # --- the API ----------------------------------------------------------------------------

    def get(self, *path: str) -> Any:
        """The resource at `/api/<path>` (each segment URL-encoded: vhost "/" is %2F), or None
        when there is none."""
        return self._request("GET", path, None, missing_ok=True)

    def put(self, *path: str, body: dict[str, Any]) -> None:
        self._request("PUT", path, body)

    def post(self, *path: str, body: dict[str, Any]) -> None:
        self._request("POST", path, body)

    def delete(self, *path: str) -> None:
        """Delete the resource; one that is already gone is no error."""
        self._request("DELETE", path, None, missing_ok=True)

    # --- HTTP -------------------------------------------------------------------------------

    def _request(
        self, method: str, path: tuple[str, ...], body: dict[str, Any] | None, missing_ok: bool = False
    ) -> Any:
        resource = "/api/" + "/".join(quote(segment, safe="") for segment in path)
        request = urllib.request.Request(
            self.url + resource,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": self._authorization, "Content-Type": "application/json"},
        )
        delay = _FIRST_DELAY
        while True:
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    payload = response.read()
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and missing_ok:
                    return None
                if 300 <= exc.code < 400:
                    raise self._redirected(method, resource, exc) from None
                failure = self._refusal(method, resource, exc)
                if exc.code not in _RETRIED_STATUSES:
                    raise failure from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                failure = self._unreachable(cause)
                if not isinstance(cause, _TRANSIENT):
                    raise failure from None
            wait = self._retry_wait(delay)
            if wait is None:
                raise (AdminError(f"{failure} (retried for {self.retry_for:g} s)") if self.retry_for else failure)
            time.sleep(wait)
            delay = min(delay * 2, _MAX_DELAY)
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            raise AdminError(
                f"{self.url} answered {method} {resource} with something that is not JSON: is it the broker's "
                "management API (its console URL)?"
            ) from None

    def _retry_wait(self, delay: float) -> float | None:
        """How long to wait before the next attempt, or None when the retry time is spent."""
        now = time.monotonic()
        if self._retry_until is None:
            self._retry_until = now + self.retry_for
        left = self._retry_until - now
        return min(delay, left) if left > 0 else None

    def _redirected(self, method: str, resource: str, error: urllib.error.HTTPError) -> AdminError:
        target = redacted(urljoin(self.url + resource, error.headers.get("Location") or ""))
        return AdminError(
            f"the RabbitMQ management API at {self.url} answered {method} {resource} with {error.code}, a redirect "
            f"to {target}, which the client does not follow (it would send the credentials there): use the URL of "
            "the management API itself, the broker's console URL"
        )

    def _refusal(self, method: str, resource: str, error: urllib.error.HTTPError) -> AdminError:
        reason = reason_of(error)
        # A 401 is a refused login ("Login failed" on RabbitMQ 3.x, "Not_Authorized" on 4.x) or,
        # for a signed-in user, a refused operation ("Access refused.", "Not administrator user").
        if error.code == 401 and reason.lower() in {"", "login failed", "not_authorized"}:
            return AdminError(
                f"the RabbitMQ management API at {self.url} refused the credentials of user {self.username!r} "
                f"(401 {reason or error.reason}): {self.credentials_hint}"
            )
        if error.code in {401, 403}:
            return AdminError(
                f"the RabbitMQ management API at {self.url} refused {method} {resource} to user {self.username!r} "
                f"({error.code} {reason or error.reason}): the bootstrap and the rotation function need a user "
                "with the administrator tag and full permissions on the vhost, as Amazon MQ gives its admin user "
                "on '/'"
            )
        if error.code in _RETRIED_STATUSES:
            return AdminError(
                f"the RabbitMQ management API at {self.url} answered {method} {resource} with {error.code} "
                f"{reason or error.reason}: the broker or its load balancer is not ready; run again once the broker "
                "is running"
            )
        return AdminError(
            f"the RabbitMQ management API at {self.url} answered {method} {resource} with {error.code} "
            f"{reason or error.reason}"
        )

    def _unreachable(self, cause: object) -> AdminError:
        where = f"the RabbitMQ management API at {self.url}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return AdminError(
                f"TLS certificate verification failed for {where} ({cause.verify_message}): the server's "
                "certificate is not trusted by this machine; for a private CA give its certificate (--ca-file); "
                "verification cannot be turned off"
            )
        if isinstance(cause, ssl.SSLError):
            return AdminError(f"the TLS handshake with {where} failed ({cause.reason}): is it an https port?")
        if isinstance(cause, socket.gaierror):
            return AdminError(f"cannot resolve the host name of {where}: check the management URL")
        if isinstance(cause, ConnectionRefusedError):
            return AdminError(
                f"cannot reach {where}: connection refused; check the URL and that the broker runs its management "
                "plugin (rabbitmq-plugins enable rabbitmq_management)"
            )
        if isinstance(cause, TimeoutError):
            return AdminError(
                f"cannot reach {where}: no answer within {self.timeout:g} s; check the URL and the network path "
                "(a private broker answers inside its VPC only)"
            )
        return AdminError(f"cannot reach {where}: {cause!r}; check the URL and the network path")


def reason_of(error: urllib.error.HTTPError) -> str:
    """The `reason` RabbitMQ puts in an error's JSON body, if any."""
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def redacted(url: str) -> str:
    """The URL with its user information, if any (a user name, a password), replaced by ***."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def is_local_host(host: str) -> bool:
    """localhost, or a loopback or private IP address: where plain http is accepted."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private
