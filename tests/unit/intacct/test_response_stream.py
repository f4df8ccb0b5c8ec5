"""`ResponseStream`: an answer parsed as it arrives, its records handed out as they complete and
released, with the same refusals as `parse_response` (DTD, entities, depth, elements, paging
attributes) and a bound on what may come between two records."""

from __future__ import annotations

import pytest

from intacct_sync.intacct.wire import MAX_DEPTH, MalformedResponse, ResponseStream, parse_response

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<response><control><status>success</status></control>'
    b"<operation><authentication><status>success</status></authentication>"
)
TAIL = b"</operation></response>"


def result(data: bytes, *, status: bytes = b"success", controlid: bytes = b"c1", attrs: bytes = b"") -> bytes:
    return (
        b"<result><status>"
        + status
        + b"</status><function>get_icitemtotals</function><controlid>"
        + controlid
        + b"</controlid><data"
        + attrs
        + b">"
        + data
        + b"</data></result>"
    )


def row(i: int) -> bytes:
    return (
        b"<itemtotal><itemid>SKU-%d</itemid><warehouseid>WH</warehouseid><onhand>%d</onhand>"
        b"<onorder>0</onorder><onhold>1</onhold></itemtotal>" % (i, i)
    )


def totals(n: int, **kwargs: bytes) -> bytes:
    rows = b"".join(row(i) for i in range(n))
    return HEAD + result(b"<icitemtotals>\n  " + rows + b"\n</icitemtotals>", **kwargs) + TAIL


def stream(body: bytes, piece: int = 97, **kwargs: int) -> tuple[list[list[dict[str, str]]], ResponseStream]:
    """Feed `body` in small pieces; the records each feed returned, and the stream."""
    s = ResponseStream(("icitemtotals", "itemtotal"), controlid="c1", **kwargs)
    fed = [s.feed(body[i : i + piece]) for i in range(0, len(body), piece)]
    return fed, s


def test_records_come_out_while_the_body_is_still_arriving() -> None:
    body = totals(50)
    fed, s = stream(body)
    first = next(i for i, got in enumerate(fed) if got)
    assert first < len(fed) // 10  # the first record long before the end of the body
    last, response = s.close()
    records = [r for got in fed for r in got] + last
    assert records[0] == {"itemid": "SKU-0", "warehouseid": "WH", "onhand": "0", "onorder": "0", "onhold": "1"}
    assert [r["itemid"] for r in records] == [f"SKU-{i}" for i in range(50)]
    assert s.records == 50
    assert response.results[0].ok and response.results[0].controlid == "c1"
    assert list(response.results[0].iter_elements("icitemtotals/itemtotal")) == []  # not kept


def test_records_have_the_shape_records_gives() -> None:
    nested = (
        b"<SODOCUMENT><DOCID>SI-1</DOCID><LINES><line><ITEMID>MUG</ITEMID></line></LINES><EMPTY/>"
        b"<CUSTOMER><NAME>A &amp; B</NAME></CUSTOMER></SODOCUMENT>"
    )
    body = HEAD + result(nested * 3) + TAIL
    s = ResponseStream(("*",), controlid="c1")
    got = s.feed(body)
    last, _ = s.close()
    assert got + last == parse_response(body).results[0].records()
    assert got[0] == {"DOCID": "SI-1", "LINES.line.ITEMID": "MUG", "EMPTY": "", "CUSTOMER.NAME": "A & B"}


def test_live_elements_are_bounded_not_the_total() -> None:
    fed, s = stream(totals(1000), max_elements=60)  # 6,000+ elements in all, a few dozen at once
    assert sum(len(got) for got in fed) + len(s.close()[0]) == 1000
    wide = HEAD + result(b"<icitemtotals><itemtotal>" + b"<f>1</f>" * 80 + b"</itemtotal></icitemtotals>") + TAIL
    with pytest.raises(MalformedResponse, match="more than 60 elements"):
        stream(wide, max_elements=60)


def test_depth_is_refused_as_soon_as_it_is_reached() -> None:
    deep = HEAD + result(b"<icitemtotals><itemtotal>" + b"<x>" * 100) + b"".join([b"<x>" * 10_000])
    with pytest.raises(MalformedResponse, match=f"deeper than {MAX_DEPTH}"):
        stream(deep, piece=4096)


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE response [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
        b'<!DOCTYPE response SYSTEM "file:///etc/passwd">',
    ],
)
def test_dtds_entities_and_external_references_are_refused(prolog: bytes) -> None:
    body = b'<?xml version="1.0"?>' + prolog + totals(2)[len(b'<?xml version="1.0" encoding="UTF-8"?>\n') :]
    with pytest.raises(MalformedResponse, match="not a safe XML document: DTDForbidden"):
        stream(body)


def test_a_bad_paging_attribute_is_refused_when_data_opens() -> None:
    body = totals(3, attrs=b' count="+1"')
    s = ResponseStream(("icitemtotals", "itemtotal"), controlid="c1")
    cut = body.index(b"<itemtotal>") + 5
    with pytest.raises(MalformedResponse, match="'count' is not a count"):
        s.feed(body[:cut])


def test_nothing_may_run_on_without_a_record() -> None:
    padded = HEAD + result(b"<icitemtotals>" + row(1) + b" " * 5000 + row(2) + b"</icitemtotals>") + TAIL
    with pytest.raises(MalformedResponse, match="without a complete record"):
        stream(padded, piece=512, max_gap_bytes=2000)
    huge_text = HEAD + result(b"<icitemtotals><itemtotal><itemid>" + b"x" * 5000) + TAIL
    with pytest.raises(MalformedResponse, match="without a complete record"):
        stream(huge_text, piece=512, max_gap_bytes=2000)


def test_indentation_between_records_is_not_gathered() -> None:
    body = HEAD + result(b"<icitemtotals>" + (row(1) + b"\n" + b" " * 1000) * 50 + b"</icitemtotals>") + TAIL
    fed, s = stream(body, piece=4096, max_gap_bytes=8192)
    last, response = s.close()
    assert sum(len(got) for got in fed) + len(last) == 50
    data = response.results[0].data
    assert data is not None and len(data.find("icitemtotals").text or "") < 8192  # type: ignore[union-attr]


def test_records_of_a_failed_result_or_another_function_are_not_streamed() -> None:
    for body in (totals(3, status=b"failure"), totals(3, controlid=b"other")):
        fed, s = stream(body)
        assert all(got == [] for got in fed)
        last, response = s.close()
        assert last == [] and len(response.results[0].records()) == 1  # left in the tree


def test_an_answer_out_of_the_dtd_order_still_gives_its_records_at_the_end() -> None:
    data = b"<data><icitemtotals>" + row(1) + row(2) + b"</icitemtotals></data>"
    body = HEAD + b"<result>" + data + b"<status>success</status><controlid>c1</controlid></result>" + TAIL
    fed, s = stream(body)
    assert all(got == [] for got in fed)
    last, _ = s.close()
    assert [r["itemid"] for r in last] == ["SKU-1", "SKU-2"]


def test_a_truncated_body_is_malformed() -> None:
    body = totals(10)
    s = ResponseStream(("icitemtotals", "itemtotal"), controlid="c1")
    assert len(s.feed(body[: len(body) // 2])) > 0
    with pytest.raises(MalformedResponse):
        s.close()


def test_what_follows_the_streamed_result_is_parsed_as_usual() -> None:
    records = b"<ITEM><ITEMID>A</ITEMID></ITEM>\n <ITEM><ITEMID>B</ITEMID></ITEM>\n"
    failed = (
        b"<result>\n <status>failure</status>\n <function>query</function>\n <controlid>c2</controlid>\n"
        b" <errormessage><error><errorno>BL01</errorno></error></errormessage></result>"
    )
    body = HEAD + result(records) + failed + TAIL
    s = ResponseStream(("*",), controlid="c1")
    got = s.feed(body)
    last, response = s.close()
    assert [r["ITEMID"] for r in got + last] == ["A", "B"]
    assert [r.status for r in response.results] == ["success", "failure"]
    assert response.results[1].errors[0].errorno == "BL01"
