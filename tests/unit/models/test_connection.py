import pytest
from pydantic import ValidationError

from intacct_sync.models.connection import Connection

SECRET = "s3cr3t-value-that-must-not-leak"


def _connection(**overrides: object) -> Connection:
    fields = {
        "id": "shop-1",
        "channel": "shopify",
        "store": "example.myshopify.com",
        "webhook_secret": SECRET,
        "access_token": SECRET + "-token",
    }
    return Connection.model_validate({**fields, **overrides})


def test_connection_secrets_never_appear_in_repr_str_or_json() -> None:
    connection = _connection()
    for text in (repr(connection), str(connection), connection.model_dump_json()):
        assert SECRET not in text


def test_connection_validation_errors_do_not_echo_secret_values() -> None:
    with pytest.raises(ValidationError) as caught:
        _connection(id="not a valid id!", webhook_secret=SECRET, surprise=SECRET)
    assert SECRET not in str(caught.value)


def test_connection_rejects_unknown_keys_so_typos_are_reported() -> None:
    with pytest.raises(ValidationError, match="webhook_secrett"):
        _connection(webhook_secrett="x")


def test_bigcommerce_shared_header_needs_both_name_and_value() -> None:
    with pytest.raises(ValidationError, match="together"):
        _connection(channel="bigcommerce", webhook_auth_header="X-Token")


def test_placed_statuses_override_is_optional() -> None:
    assert _connection().placed_statuses is None
    assert _connection(placed_statuses=["paid"]).placed_statuses == frozenset({"paid"})
