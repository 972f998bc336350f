import pytest
from pydantic import ValidationError

from tasktracker.contracts.auth import Claims
from tasktracker.contracts.enums import Role


def test_claims_parse_string_project_keys_from_json() -> None:
    claims = Claims.model_validate_json(
        '{"sub": "alice", "projects": {"1": "pm", "2": "viewer"}, "exp": 2000000000, "iss": "x"}'
    )
    assert claims.projects == {1: Role.pm, 2: Role.viewer}
    assert claims.admin is False
    assert claims.iat is None


def test_role_hierarchy() -> None:
    assert Role.admin.allows(Role.pm) and Role.admin.allows(Role.viewer)
    assert Role.pm.allows(Role.viewer) and Role.pm.allows(Role.pm)
    assert not Role.pm.allows(Role.admin)
    assert not Role.viewer.allows(Role.pm)
    assert Role.viewer.allows("viewer")


def test_role_in_and_can() -> None:
    claims = Claims(sub="bob", projects={1: Role.pm}, exp=1)
    assert claims.role_in(1) is Role.pm
    assert claims.role_in(2) is None
    assert claims.can(1, Role.viewer) and claims.can(1, Role.pm)
    assert not claims.can(1, Role.admin)
    assert not claims.can(2, Role.viewer)


def test_global_admin_is_admin_of_every_project() -> None:
    claims = Claims(sub="root", admin=True, exp=1)
    assert claims.role_in(999) is Role.admin
    assert claims.can(999, Role.admin)


@pytest.mark.parametrize(
    "data",
    [
        {"sub": "", "exp": 1},
        {"exp": 1},
        {"sub": "a"},
        {"sub": "a", "exp": 1, "projects": {"1": "owner"}},
        {"sub": "a", "exp": 1, "projects": {"x": "pm"}},
        {"sub": "a", "exp": 1, "projects": {"0": "pm"}},
    ],
)
def test_claims_reject_bad_input(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Claims.model_validate(data)


def test_expiry_and_jwt_payload() -> None:
    claims = Claims(sub="a", projects={3: Role.admin}, exp=100, iat=50)
    assert claims.is_expired(now=100)
    assert not claims.is_expired(now=99.5)
    payload = claims.to_jwt_payload()
    assert payload == {
        "sub": "a",
        "projects": {"3": "admin"},
        "admin": False,
        "exp": 100,
        "iat": 50,
    }
    assert Claims.model_validate(payload) == claims


@pytest.mark.parametrize(
    "data",
    [
        {"sub": "a", "exp": 1, "admin": "true"},  # a string is not a boolean
        {"sub": "a", "exp": 1, "admin": 1},
        {"sub": "a", "exp": 1, "projects": {"01": "pm"}},  # only canonical project keys
        {"sub": "a", "exp": 1, "projects": {"+1": "pm"}},
        {"sub": "a", "exp": 1, "projects": {" 1": "pm"}},
        {"sub": "a", "exp": 1, "projects": {"1.0": "pm"}},
        {"sub": "a", "exp": 1, "projects": {"\u0661": "pm"}},  # an Arabic-Indic digit one
        {"sub": "a", "exp": "2000000000"},  # NumericDate is a JSON number
        {"sub": "a", "exp": True},
        {"sub": "a", "exp": 1, "iat": "1"},
        {"sub": "a", "exp": 1, "nbf": "1"},
        {"sub": "a", "exp": 1, "projects": ["1"]},
    ],
)
def test_claims_have_strict_types(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Claims.model_validate(data)


@pytest.mark.parametrize("sub", ["josé", "a\r\nX-Actor: root", "tab\there", " alice", "a" * 257])
def test_sub_must_fit_a_header_as_it_is(sub: str) -> None:
    """`sub` is forwarded as the `X-Actor` header: ASCII, printable, no surrounding spaces."""
    with pytest.raises(ValidationError):
        Claims.model_validate({"sub": sub, "exp": 1})


def test_numeric_dates_may_be_fractional() -> None:
    claims = Claims.model_validate({"sub": "alice smith", "exp": 1.5, "iat": 1, "nbf": 0.5})
    assert (claims.exp, claims.iat, claims.nbf) == (1, 1, 0)
    assert Claims.model_validate({"sub": "a", "exp": 1, "projects": {"12": "pm"}}).projects == {
        12: Role.pm
    }
