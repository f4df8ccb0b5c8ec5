"""The mapping's tax subtotals per jurisdiction and its invoice date (issue 9 item 7)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from intacct_sync.channels import woocommerce
from intacct_sync.models.order import Order
from intacct_sync.posting.mapping import invoice_for
from intacct_sync.posting.regions import region_matches
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, load_settings
from tests.fixtures.channels.sign import connection, load


def settings(**sections: dict[str, Any]) -> Settings:
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    for key, value in sections.items():
        data[key] = {**data[key], **value}
    return load_settings(data)


def woo_bc() -> Order:
    raw = json.loads(load("woocommerce", "order_updated_bc_gst_pst_fee_evening.json"))
    return woocommerce.order_from_json(raw, connection("woocommerce"))


def test_order_is_dated_in_the_zone_it_was_placed_in_unless_a_zone_is_set() -> None:
    order = woo_bc()  # 31 May 21:30 in Toronto = 1 June 01:30 UTC
    assert str(invoice_for(order, DEFAULT_SETTINGS, customer_id="C").date_created) == "2024-05-31"
    utc = settings(invoice={"timezone": "UTC"})
    assert str(invoice_for(order, utc, customer_id="C").date_created) == "2024-06-01"
    no_offset = order.model_copy(update={"utc_offset_minutes": None})
    assert str(invoice_for(no_offset, DEFAULT_SETTINGS, customer_id="C").date_created) == "2024-06-01"


def test_unmapped_jurisdictions_share_the_default_subtotal_and_mapped_ones_get_their_own() -> None:
    order = woo_bc()
    one = invoice_for(order, DEFAULT_SETTINGS, customer_id="C").subtotals
    assert [(s.description, s.total) for s in one] == [("Tax", Decimal("10.70"))]
    by_code = settings(items={"tax_subtotals": {"ca-bc-pst-2": "PST"}})  # rate_code, any case
    split = invoice_for(order, by_code, customer_id="C").subtotals
    assert [(s.description, s.total) for s in split] == [("Tax", Decimal("4.75")), ("PST", Decimal("5.95"))]


def test_region_code_and_name_are_the_same_region() -> None:
    assert region_matches("California", "US", ["CA", "OR"])
    assert region_matches("bc", "CA", ["British Columbia"])
    assert region_matches("Québec", "CA", ["QC"])
    assert not region_matches("Texas", "US", ["CA"])
    assert region_matches("Bavaria", "DE", ["bavaria"]) and not region_matches("BY", "DE", ["Bavaria"])
