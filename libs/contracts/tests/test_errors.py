import json

from pydantic import BaseModel, ValidationError

from tasktracker.contracts.errors import HTTP_STATUS, ErrorBody, ErrorCode, error_body


def test_error_body_shape() -> None:
    assert error_body(ErrorCode.not_found, "no such run") == {
        "error": {"code": "not_found", "message": "no such run", "details": None}
    }
    body = error_body("conflict", "run is closed", {"status": "closed"})
    assert ErrorBody.model_validate(body).error.details == {"status": "closed"}


def test_error_body_makes_pydantic_errors_json_ready() -> None:
    class Model(BaseModel):
        n: int

        def model_post_init(self, context: object) -> None:
            if self.n < 0:
                raise ValueError("negative")

    try:
        Model(n=-1)
    except ValidationError as exc:
        body = error_body(ErrorCode.validation_error, "invalid body", exc.errors())
    json.dumps(body)  # must not raise: ctx holds a ValueError object
    assert body["error"]["code"] == "validation_error"


def test_every_error_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorCode)
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())
