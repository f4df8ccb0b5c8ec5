"""Hostile gateway answers are refused as `MalformedResponse` with bounded depth, element count and
memory, and paging attributes are parsed strictly; legitimate deep and large answers still parse."""

from __future__ import annotations

import tracemalloc

import pytest

from intacct_sync.intacct.wire import MAX_DEPTH, MAX_ELEMENTS, MalformedResponse, Result, parse_response

HEAD = (
    b"<response><control><status>success</status></control><operation><authentication><status>success"
    b"</status></authentication><result><status>success</status><function>readByQuery</function>"
    b"<controlid>q</controlid>"
)
TAIL = b"</result></operation></response>"


def answer(data: bytes, attrs: bytes = b"") -> bytes:
    return HEAD + b"<data" + attrs + b">" + data + b"</data>" + TAIL


def test_5000_deep_nesting_is_a_malformed_response_not_a_recursion_error() -> None:
    body = answer(b"<SODOCUMENT>" + b"<X>" * 5000 + b"1" + b"</X>" * 5000 + b"</SODOCUMENT>")
    with pytest.raises(MalformedResponse, match="deeper than"):
        parse_response(body).results[0].records()


def test_nesting_just_over_the_limit_is_refused_and_at_the_limit_parses() -> None:
    # response/operation/result/data is 4 levels; each <X> adds one.
    at_limit = answer(b"<X>" * (MAX_DEPTH - 4) + b"</X>" * (MAX_DEPTH - 4))
    assert parse_response(at_limit).results[0].records() == [{".".join(["X"] * (MAX_DEPTH - 5)): ""}]
    over = answer(b"<X>" * (MAX_DEPTH - 3) + b"</X>" * (MAX_DEPTH - 3))
    with pytest.raises(MalformedResponse):
        parse_response(over)


def test_a_real_nested_sodocument_answer_parses_and_flattens() -> None:
    line = (
        b"<sodocumententry><ITEMID>MUG</ITEMID><CUSTOMFIELDS><CF><NAME>X</NAME></CF></CUSTOMFIELDS></sodocumententry>"
    )
    doc = b"<SODOCUMENT><DOCID>SI-1</DOCID><SODOCUMENTENTRIES>" + line * 3 + b"</SODOCUMENTENTRIES></SODOCUMENT>"
    res = parse_response(answer(doc, b' count="1" totalcount="1" numremaining="0"')).results[0]
    assert res.records()[0]["DOCID"] == "SI-1"
    assert res.records()[0]["SODOCUMENTENTRIES.sodocumententry.CUSTOMFIELDS.CF.NAME"] == "X"


def test_a_1000_record_page_of_20_fields_fits_well_inside_the_limits() -> None:
    record = b"<customer>" + b"".join(b"<F%d>value %d</F%d>" % (i, i, i) for i in range(20)) + b"</customer>"
    res = parse_response(answer(record * 1000, b' count="1000" totalcount="5000" numremaining="4000"')).results[0]
    assert len(res.records()) == 1000 and res.num_remaining == 4000
    assert MAX_ELEMENTS > 21 * 1000 * 10, "at least 10x headroom for a page"


def test_too_many_elements_are_refused() -> None:
    with pytest.raises(MalformedResponse, match="more than 100 elements"):
        parse_response(answer(b"<a/>" * 200), max_elements=100)


def test_60_mib_of_tiny_elements_is_refused_within_256_mb() -> None:
    body = answer(b"<a/>" * (15 * 1024 * 1024))
    assert 60 * 2**20 <= len(body) < 64 * 2**20  # under the client's byte cap
    tracemalloc.start()
    try:
        with pytest.raises(MalformedResponse):
            parse_response(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("name", ["count", "totalcount", "numremaining"])
@pytest.mark.parametrize("value", ["many", "-1", "+1", "1_000", "1e3", "\u0661", "0x10", "1.5", "9" * 40])
def test_a_non_integer_count_attribute_is_a_malformed_response_not_a_value_error(name: str, value: str) -> None:
    body = answer(b"<customer><A>1</A></customer>", f' {name}="{value}"'.encode())
    with pytest.raises(MalformedResponse, match=name):
        res = parse_response(body).results[0]
        assert None not in (res.count, res.total_count, res.num_remaining)


@pytest.mark.parametrize("value", ["has space", "a\tb", "x" * 300, "caf\u00e9"])
def test_a_hostile_result_id_is_a_malformed_response(value: str) -> None:
    body = answer(b"", f' resultId="{value}" numremaining="1"'.encode())
    with pytest.raises(MalformedResponse, match="resultId"):
        res = parse_response(body).results[0]
        assert res.result_id != value


def test_empty_and_absent_paging_attributes_are_none() -> None:
    res = parse_response(answer(b"", b' count="" resultId=""')).results[0]
    assert (res.count, res.total_count, res.num_remaining, res.result_id) == (None, None, None, None)


def test_a_result_built_by_hand_with_a_bad_count_raises_the_protocol_error() -> None:
    import xml.etree.ElementTree as ET

    data = ET.Element("data", {"numremaining": "many"})
    with pytest.raises(MalformedResponse):
        _ = Result(status="success", function="readMore", controlid="c", data=data).num_remaining
