"""Tokens: verification (HS256, RS256), extraction from requests, issuing, CLI parsing."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from tasktracker.contracts.enums import Role
from tasktracker.gateway.app import create_app
from tasktracker.gateway.auth import (
    AuthError,
    TokenVerifier,
    bearer_token,
    issue_token,
    parse_duration,
    parse_project_role,
)
from tasktracker.gateway.settings import GatewaySettings

from .helpers import SECRET

HS = TokenVerifier("HS256", SECRET)


def test_round_trip_hs256():
    claims = HS.verify(issue_token(SECRET, sub="alice", projects={1: "pm", 2: Role.viewer}))
    assert claims.sub == "alice"
    assert claims.projects == {1: Role.pm, 2: Role.viewer}
    assert claims.admin is False
    assert claims.exp > time.time()


def test_expired_token():
    expired = issue_token(SECRET, sub="alice", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(AuthError, match="expired"):
        HS.verify(expired)


@pytest.mark.parametrize("bad", ["", None, "abc", "a.b.c", "Bearer x"])
def test_malformed_tokens(bad):
    with pytest.raises(AuthError):
        HS.verify(bad)


def test_wrong_secret_and_tampering():
    other = issue_token("another-secret-that-is-long-enough-for-hs256", sub="alice")
    with pytest.raises(AuthError, match="invalid token"):
        HS.verify(other)
    good = issue_token(SECRET, sub="alice", projects={1: "viewer"})
    header, _payload, signature = good.split(".")
    forged = jwt.encode(
        {"sub": "alice", "projects": {"1": "admin"}, "exp": 2_000_000_000}, "x" * 40
    )
    with pytest.raises(AuthError):
        HS.verify(".".join([header, forged.split(".")[1], signature]))


def test_alg_none_is_refused():
    unsigned = jwt.encode({"sub": "a", "exp": 2_000_000_000}, None, algorithm="none")
    with pytest.raises(AuthError):
        HS.verify(unsigned)


def test_claims_are_required_and_checked():
    no_exp = jwt.encode({"sub": "alice"}, SECRET)
    with pytest.raises(AuthError):
        HS.verify(no_exp)
    bad_role = jwt.encode({"sub": "a", "exp": 2_000_000_000, "projects": {"1": "boss"}}, SECRET)
    with pytest.raises(AuthError, match="claims"):
        HS.verify(bad_role)


@pytest.fixture(scope="module")
def rsa_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_rs256(rsa_keys, tmp_path):
    private, public = rsa_keys
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public)
    settings = GatewaySettings(jwt_algorithm="RS256", jwt_public_key_file=key_file)
    verifier = TokenVerifier("RS256", settings.verification_key())
    signed = issue_token(private, sub="bob", projects={3: "admin"}, algorithm="RS256")
    assert verifier.verify(signed).role_in(3) == Role.admin
    # Algorithm confusion: an HS256 token "signed" with the public key must not pass.
    confused = jwt.encode({"sub": "bob", "exp": 2_000_000_000, "admin": True}, "x" * 40)
    with pytest.raises(AuthError):
        verifier.verify(confused)


def test_settings_need_a_key():
    with pytest.raises(ValueError, match="JWT_SECRET"):
        GatewaySettings(jwt_secret=None).verification_key()
    with pytest.raises(ValueError, match="at least 32"):
        GatewaySettings(jwt_secret="short").verification_key()
    with pytest.raises(ValueError, match="PUBLIC_KEY"):
        GatewaySettings(jwt_algorithm="RS256").verification_key()
    with pytest.raises(ValueError, match="PRIVATE_KEY"):
        GatewaySettings(jwt_algorithm="RS256", jwt_public_key="x").signing_key()
    with pytest.raises(ValueError, match="JWT_SECRET"):  # a gateway without a key won't start
        create_app(GatewaySettings(jwt_secret=None))
    with pytest.raises(ValidationError):
        GatewaySettings(jwt_algorithm="none")


def test_bearer_token():
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "bearer  abc "}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None
    assert bearer_token({}, {"token": "q"}) == "q"
    assert bearer_token({"authorization": "Bearer h"}, {"token": "q"}) == "h"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("45s", 45), ("30m", 1800), ("8h", 28800), ("2d", 172800), ("1.5h", 5400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "8x", "-1h", "0"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_project_role():
    assert parse_project_role("1=pm") == (1, Role.pm)
    for bad in ("1", "x=pm", "1=boss", "0=pm", "-2=viewer"):
        with pytest.raises(ValueError):
            parse_project_role(bad)


def test_default_leeway_absorbs_a_few_seconds_of_clock_skew():
    verifier = TokenVerifier.from_settings(GatewaySettings(jwt_secret=SECRET))
    now = int(time.time())
    skewed = {"sub": "a", "exp": now - 2, "iat": now + 2, "nbf": now + 2}
    assert verifier.verify(jwt.encode(skewed, SECRET)).sub == "a"
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(jwt.encode({"sub": "a", "exp": now - 60}, SECRET))
    with pytest.raises(AuthError):
        verifier.verify(jwt.encode({"sub": "a", "exp": now + 600, "nbf": now + 60}, SECRET))


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "josé"},  # forwarded as the X-Actor header: ASCII only
        {"sub": "a", "admin": "true"},
        {"sub": "a", "projects": {"01": "admin"}},
        {"sub": "a", "nbf": "0"},
    ],
)
def test_claims_of_the_wrong_type_are_refused(claims):
    with pytest.raises(AuthError, match="claims"):
        HS.verify(jwt.encode({"exp": 2_000_000_000, **claims}, SECRET))


def test_rs256_issuer_and_audience_of_a_shared_identity_provider(rsa_keys):
    private, public = rsa_keys
    settings = GatewaySettings(
        jwt_algorithm="RS256",
        jwt_public_key=public.decode(),
        jwt_issuer="https://idp.example",
        jwt_audience="tasktracker",
    )
    verifier = TokenVerifier.from_settings(settings)
    base = {"sub": "bob", "exp": 2_000_000_000, "admin": True}

    def signed(**claims):
        return jwt.encode({**base, **claims}, private, algorithm="RS256")

    ok = verifier.verify(signed(iss="https://idp.example", aud=["other", "tasktracker"]))
    assert ok.admin is True
    for claims in (
        {"aud": "tasktracker"},  # no issuer
        {"iss": "https://idp.example"},  # no audience
        {"iss": "https://evil.example", "aud": "tasktracker"},
        {"iss": "https://idp.example", "aud": "another-app"},
    ):
        with pytest.raises(AuthError):
            verifier.verify(signed(**claims))


def test_a_bad_rs256_key_fails_at_start(tmp_path):
    garbage = tmp_path / "public.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    for settings in (
        GatewaySettings(jwt_algorithm="RS256", jwt_public_key="not a key"),
        GatewaySettings(jwt_algorithm="RS256", jwt_public_key_file=garbage),
    ):
        with pytest.raises(ValueError, match="public key"):
            create_app(settings)


def test_a_remembered_token_still_expires(monkeypatch):
    verifier = TokenVerifier("HS256", SECRET, leeway=5)
    issued = time.time()
    token = issue_token(SECRET, sub="alice", ttl_seconds=60, now=issued)
    assert verifier.verify(token).sub == "alice"
    monkeypatch.setattr(time, "time", lambda: issued + 64)  # expired 4 s ago: within leeway
    assert verifier.verify(token).sub == "alice"
    monkeypatch.setattr(time, "time", lambda: issued + 66)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)


def test_tokens_that_verified_are_remembered_and_no_others():
    verifier = TokenVerifier("HS256", SECRET, remembered=2)
    tokens = [issue_token(SECRET, sub=name) for name in ("a", "b", "c")]
    forged = tokens[0][:-2] + ("AA" if not tokens[0].endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(AuthError, match="invalid token"):
            verifier.verify(forged)  # refused every time, never taken as verified
    assert [verifier.verify(token).sub for token in tokens + tokens[-1:]] == ["a", "b", "c", "c"]
    remembered = verifier._verified.cache_info()
    assert (remembered.hits, remembered.currsize) == (1, 2)
