"""Webhook signature verification (SPEC §7, WEBHOOKS.md §1): pure functions over the raw body.

``verify(vendor, body, headers, secret, now_s)`` tells whether a delivery is authentic;
``sign(vendor, body, secret, now_s)`` builds the headers the vendor would send (tests, the demo
simulator and the benchmark post signed deliveries with it).

Rules shared by every vendor:

- Only the **raw body bytes** count. A signature computed over a re-serialised body (other
  whitespace, other key order, other escaping) does not verify.
- ``headers`` has lower-case names. The secret is used as its literal UTF-8 bytes (Zendesk's
  base64-looking test secret is *not* decoded).
- Comparisons are constant-time (:func:`hmac.compare_digest`). The header's signature is decoded
  (hex or base64) and compared with the digest as bytes, so hex case does not matter.
- Where a timestamp is signed (Zendesk, Chatwoot, Front application webhooks) the signature is
  checked first and the age second: a delivery whose timestamp is more than ``max_age_s``
  away from ``now_s`` (in the past *or* the future; exactly ``max_age_s`` still passes) is
  :attr:`Verdict.STALE`. A stale delivery is therefore known to be authentic but replayed or
  delayed; a forged one is :attr:`Verdict.BAD` whatever its timestamp.

Verdicts: :attr:`~Verdict.OK`; :attr:`~Verdict.MISSING` when a needed header is absent **or
malformed** (no ``sha1=``/``sha256=`` prefix, bad hex or base64, a timestamp that does not
parse, an ``Authorization`` header that is not ``Basic`` with ``user:password``): nothing usable
was presented; :attr:`~Verdict.BAD` when a well-formed signature or secret does not match;
:attr:`~Verdict.STALE` as above. The gateway answers 401 to all three. An unknown vendor raises
:class:`ValueError`.

Schemes and their sources (WEBHOOKS.md §6):

=========  ==================================================================================
intercom   ``x-hub-signature: sha1=<hex HMAC-SHA1(secret, body)>``; nothing signed but the body.
           developers.intercom.com/docs/references/webhooks/webhook-models ("Signed
           notifications").
zendesk    ``x-zendesk-webhook-signature: <b64 HMAC-SHA256(secret, ts + body)>`` with
           ``x-zendesk-webhook-signature-timestamp: <ISO 8601, e.g. 2026-07-22T10:00:00Z>``.
           developer.zendesk.com/documentation/webhooks/verifying
chatwoot   ``x-chatwoot-signature: sha256=<hex HMAC-SHA256(secret, ts + "." + body)>`` with
           ``x-chatwoot-timestamp: <unix seconds>`` (Chatwoot ≥ 4.11.2; chatwoot/chatwoot
           PR #13573).
front      application webhooks: ``x-front-signature: <b64 HMAC-SHA256(secret, ts + ":" +
           body)>`` with ``x-front-request-timestamp: <unix milliseconds>``
           (dev.frontapp.com/docs/application-webhooks, "Verifying integrity");
           rule webhooks (no timestamp header): ``x-front-signature: <b64 HMAC-SHA1(secret,
           body)>`` (dev.frontapp.com/docs/rule-webhooks). The presence of
           ``x-front-request-timestamp`` selects the scheme.
helpscout  ``x-helpscout-signature: <b64 HMAC-SHA1(secret, body)>``.
           developer.helpscout.com/webhooks
freshdesk  signs nothing (support.freshdesk.com articles 132589, 225431): the rule author adds
           ``authorization: Basic <b64(user:password)>`` (any user, password = secret) or
           ``x-webhook-secret: <secret>``; either one matching is enough.
=========  ==================================================================================
"""

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

__all__ = ["FRESHDESK_SIGN_USER", "VENDORS", "Verdict", "sign", "verify"]


class Verdict(enum.Enum):
    """The outcome of :func:`verify`; only ``OK`` may go further (the rest are a bare 401)."""

    OK = "ok"
    MISSING = "missing"  # a needed header is absent or malformed
    BAD = "bad"  # well-formed, but the signature / secret does not match
    STALE = "stale"  # authentic, but the signed timestamp is outside max_age_s


VENDORS = ("intercom", "zendesk", "front", "helpscout", "freshdesk", "chatwoot")

#: The user name :func:`sign` puts in Freshdesk's basic-auth header (any name is accepted).
FRESHDESK_SIGN_USER = "freshdesk"

_DIGITS = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _mac(algo: str, secret: str, msg: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), msg, algo).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _unhex(text: str) -> bytes | None:
    if not _HEX.fullmatch(text) or len(text) % 2:
        return None
    return bytes.fromhex(text)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _b64_header(headers: Mapping[str, str], name: str) -> bytes | None:
    """The bytes of a base64 signature header; None when it is missing or not base64."""
    value = _header(headers, name)
    return _unb64(value) if value is not None else None


def _prefixed_hex(value: str | None, prefix: str) -> bytes | None:
    """``sha1=abcd…`` → the digest bytes (prefix case-insensitive), else None."""
    if value is None or value[: len(prefix)].lower() != prefix:
        return None
    return _unhex(value[len(prefix):])


def _check(expected: bytes, given: bytes) -> bool:
    return hmac.compare_digest(expected, given)


def _fresh(ts_s: float, now_s: float, max_age_s: float) -> Verdict:
    return Verdict.OK if abs(now_s - ts_s) <= max_age_s else Verdict.STALE


def _iso_seconds(text: str) -> float | None:
    """An ISO 8601 date-time *with* an offset (``Z`` or ``±hh:mm``) → unix seconds."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return at.timestamp()


def _unix_digits(text: str) -> int | None:
    return int(text) if _DIGITS.fullmatch(text) else None


# --- verification, one function per vendor --------------------------------------------------


def _verify_intercom(body: bytes, headers: Mapping[str, str], secret: str,
                     now_s: float, max_age_s: float) -> Verdict:
    given = _prefixed_hex(_header(headers, "x-hub-signature"), "sha1=")
    if given is None:
        return Verdict.MISSING
    return Verdict.OK if _check(_mac("sha1", secret, body), given) else Verdict.BAD


def _verify_zendesk(body: bytes, headers: Mapping[str, str], secret: str,
                    now_s: float, max_age_s: float) -> Verdict:
    given = _b64_header(headers, "x-zendesk-webhook-signature")
    ts = _header(headers, "x-zendesk-webhook-signature-timestamp")
    ts_s = _iso_seconds(ts) if ts is not None else None
    if given is None or ts is None or ts_s is None:
        return Verdict.MISSING
    # The header's own characters are signed, not a re-formatted time.
    if not _check(_mac("sha256", secret, ts.encode("utf-8") + body), given):
        return Verdict.BAD
    return _fresh(ts_s, now_s, max_age_s)


def _verify_chatwoot(body: bytes, headers: Mapping[str, str], secret: str,
                     now_s: float, max_age_s: float) -> Verdict:
    given = _prefixed_hex(_header(headers, "x-chatwoot-signature"), "sha256=")
    ts = _header(headers, "x-chatwoot-timestamp")
    ts_s = _unix_digits(ts) if ts is not None else None
    if given is None or ts is None or ts_s is None:
        return Verdict.MISSING
    if not _check(_mac("sha256", secret, ts.encode("utf-8") + b"." + body), given):
        return Verdict.BAD
    return _fresh(ts_s, now_s, max_age_s)


def _verify_front(body: bytes, headers: Mapping[str, str], secret: str,
                  now_s: float, max_age_s: float) -> Verdict:
    given = _b64_header(headers, "x-front-signature")
    if given is None:
        return Verdict.MISSING
    ts = _header(headers, "x-front-request-timestamp")
    if ts is None:  # rule webhook: SHA-1 over the body, nothing else signed
        return _body_sha1(given, secret, body)
    ts_ms = _unix_digits(ts)
    if ts_ms is None:
        return Verdict.MISSING
    if not _check(_mac("sha256", secret, ts.encode("utf-8") + b":" + body), given):
        return Verdict.BAD
    return _fresh(ts_ms / 1000.0, now_s, max_age_s)


def _verify_helpscout(body: bytes, headers: Mapping[str, str], secret: str,
                      now_s: float, max_age_s: float) -> Verdict:
    given = _b64_header(headers, "x-helpscout-signature")
    if given is None:
        return Verdict.MISSING
    return _body_sha1(given, secret, body)


def _body_sha1(given: bytes, secret: str, body: bytes) -> Verdict:
    """HMAC-SHA1 over the body alone (Help Scout, Front rule webhooks): no replay window."""
    return Verdict.OK if _check(_mac("sha1", secret, body), given) else Verdict.BAD


def _same_secret(given: bytes, secret: str) -> bool:
    # Hash both sides first so that the comparison does not reveal the secret's length either.
    return hmac.compare_digest(hashlib.sha256(given).digest(),
                               hashlib.sha256(secret.encode("utf-8")).digest())


def _basic_password(value: str | None) -> bytes | None:
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    raw = _unb64(token.strip())
    if raw is None or b":" not in raw:
        return None
    return raw.split(b":", 1)[1]


def _verify_freshdesk(body: bytes, headers: Mapping[str, str], secret: str,
                      now_s: float, max_age_s: float) -> Verdict:
    header_secret = _header(headers, "x-webhook-secret")
    presented = [
        p for p in (_basic_password(_header(headers, "authorization")),
                    header_secret.encode("utf-8") if header_secret is not None else None)
        if p is not None
    ]
    if not presented:
        return Verdict.MISSING
    # Compare every credential presented (no short cut), then decide.
    matches = [_same_secret(p, secret) for p in presented]
    return Verdict.OK if any(matches) else Verdict.BAD


_Verifier = Callable[[bytes, Mapping[str, str], str, float, float], Verdict]
_VERIFIERS: dict[str, _Verifier] = {
    "intercom": _verify_intercom,
    "zendesk": _verify_zendesk,
    "front": _verify_front,
    "helpscout": _verify_helpscout,
    "freshdesk": _verify_freshdesk,
    "chatwoot": _verify_chatwoot,
}


def verify(vendor: str, body: bytes, headers: Mapping[str, str], secret: str, now_s: float,
           max_age_s: float = 300.0) -> Verdict:
    """Is this delivery authentic? ``body`` is the raw request body, ``headers`` has
    lower-case names, ``now_s`` is the receiver's clock (unix seconds). See the module doc for
    each vendor's scheme and for what MISSING / BAD / STALE mean. Raises ValueError for a
    vendor not in :data:`VENDORS`."""
    verifier = _VERIFIERS.get(vendor)
    if verifier is None:
        raise ValueError(f"unknown webhook vendor {vendor!r}; expected one of {VENDORS}")
    return verifier(body, headers, secret, now_s, max_age_s)


def sign(vendor: str, body: bytes, secret: str, now_s: float, *,
         front_rule: bool = False) -> dict[str, str]:
    """The authentication headers (lower-case names) ``vendor`` would send with ``body`` at
    ``now_s``: what :func:`verify` checks, nothing else (no content type, no event header).

    Front signs as an application webhook (timestamp in ms) unless ``front_rule``; Freshdesk
    gets ``authorization: Basic`` with user :data:`FRESHDESK_SIGN_USER` and the secret as
    password. Raises ValueError for a vendor not in :data:`VENDORS`."""
    if vendor == "intercom":
        return {"x-hub-signature": "sha1=" + _mac("sha1", secret, body).hex()}
    if vendor == "zendesk":
        ts = datetime.fromtimestamp(int(now_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "x-zendesk-webhook-signature": _b64(_mac("sha256", secret, ts.encode() + body)),
            "x-zendesk-webhook-signature-timestamp": ts,
        }
    if vendor == "chatwoot":
        ts = str(int(now_s))
        return {
            "x-chatwoot-signature":
                "sha256=" + _mac("sha256", secret, ts.encode() + b"." + body).hex(),
            "x-chatwoot-timestamp": ts,
        }
    if vendor == "front":
        if front_rule:
            return {"x-front-signature": _b64(_mac("sha1", secret, body))}
        ts = str(int(now_s * 1000))
        return {
            "x-front-signature": _b64(_mac("sha256", secret, ts.encode() + b":" + body)),
            "x-front-request-timestamp": ts,
        }
    if vendor == "helpscout":
        return {"x-helpscout-signature": _b64(_mac("sha1", secret, body))}
    if vendor == "freshdesk":
        creds = f"{FRESHDESK_SIGN_USER}:{secret}".encode()
        return {"authorization": "Basic " + _b64(creds)}
    raise ValueError(f"unknown webhook vendor {vendor!r}; expected one of {VENDORS}")
