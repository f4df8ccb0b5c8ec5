"""The Intacct XML envelope: building requests and parsing responses.

Requests are built with ElementTree (escaping is the builder's job, never ours); responses are
parsed with defusedxml, which refuses DTDs, entity expansion and external references, so a
hostile or broken gateway answer cannot blow up memory or read local files. The parse is also
bounded in depth (`MAX_DEPTH`) and element count (`MAX_ELEMENTS`), checked while the tree is being
built, and paging attributes are checked strictly: anything outside those bounds is a
`MalformedResponse`, never a RecursionError, ValueError or an out-of-memory Lambda.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal
from xml.parsers import expat

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from intacct_sync.intacct.errors import ErrorDetail

DTD_VERSION = "3.0"
MAX_CONTROLID = 256
# The deepest real answer is about 10 levels (response/operation/result/data/SODOCUMENT/
# SODOCUMENTENTRIES/sodocumententry/... ); 64 leaves room for any legitimate nesting while keeping
# every recursive walk of the tree far from Python's recursion limit.
MAX_DEPTH = 64
# A 1,000-record page of ~20 fields is ~21,000 elements; 500,000 leaves 20x headroom (and room for
# nested line items) while bounding the tree to well under 100 MB. Without a cap, 60 MiB of tiny
# elements built a tree of several GiB.
MAX_ELEMENTS = 500_000
# Paging attributes: a count is ASCII digits (int() would also take "+1", " 1_0" or Arabic-Indic
# digits); a resultId is echoed back in readMore, so it is a bounded run of printable ASCII.
_COUNT_RE = re.compile(r"[0-9]{1,12}")
_RESULT_ID_RE = re.compile(r"[!-~]{1,256}")
_COUNT_ATTRS = ("count", "totalcount", "numremaining")
_FEED_BYTES = 64 * 1024

# XML 1.0 allows tab, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Record = dict[str, str]


def xml_text(value: str | int | Decimal) -> str:
    """Text safe for an XML 1.0 document: characters XML cannot carry are dropped.

    Escaping of `&`, `<`, `>` and quotes is left to the serializer.
    """
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    return _XML_INVALID.sub("", text)


def sub(parent: ET.Element, tag: str, value: str | int | Decimal | None = None) -> ET.Element:
    """Append `<tag>value</tag>`; a None value writes an empty element."""
    el = ET.SubElement(parent, tag)
    if value is not None:
        el.text = xml_text(value)
    return el


def check_controlid(controlid: str) -> str:
    if not 1 <= len(controlid) <= MAX_CONTROLID:
        raise ValueError(f"Intacct controlids are 1 to {MAX_CONTROLID} characters, got {len(controlid)}")
    if _XML_INVALID.search(controlid):
        raise ValueError("controlid contains characters XML cannot carry")
    return controlid


@dataclass(frozen=True)
class Function:
    """One `<function controlid=...>` with its single child element.

    `write` marks functions that change Intacct: a request holding one is sent with
    uniqueid=true, and a lost answer to it is reported as an unknown outcome, never retried blindly.
    """

    name: str
    controlid: str
    element: ET.Element = field(compare=False, repr=False)
    write: bool = False
    object: str | None = None

    def __post_init__(self) -> None:
        check_controlid(self.controlid)


@dataclass(frozen=True)
class LoginAuth:
    user_id: str
    company_id: str
    password: str = field(repr=False)
    entity_id: str | None = None


@dataclass(frozen=True)
class SessionAuth:
    session_id: str = field(repr=False)


def build_request(
    *,
    sender_id: str,
    sender_password: str,
    control_id: str,
    auth: LoginAuth | SessionAuth,
    functions: Sequence[Function],
    unique_id: bool,
    transaction: bool = False,
) -> bytes:
    """Serialize a full request envelope in the DTD's element order."""
    if not functions:
        raise ValueError("an Intacct request carries at least one function")
    root = ET.Element("request")
    control = sub(root, "control")
    sub(control, "senderid", sender_id)
    sub(control, "password", sender_password)
    sub(control, "controlid", check_controlid(control_id))
    sub(control, "uniqueid", "true" if unique_id else "false")
    sub(control, "dtdversion", DTD_VERSION)
    sub(control, "includewhitespace", "false")
    operation = ET.SubElement(root, "operation", {"transaction": "true" if transaction else "false"})
    authentication = sub(operation, "authentication")
    if isinstance(auth, SessionAuth):
        sub(authentication, "sessionid", auth.session_id)
    else:
        login = sub(authentication, "login")
        sub(login, "userid", auth.user_id)
        sub(login, "companyid", auth.company_id)
        sub(login, "password", auth.password)
        if auth.entity_id:
            sub(login, "locationid", auth.entity_id)
    content = sub(operation, "content")
    for fn in functions:
        wrapper = ET.SubElement(content, "function", {"controlid": fn.controlid})
        wrapper.append(fn.element)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


# --- responses -------------------------------------------------------------------------------


class MalformedResponse(Exception):
    """The body is not an Intacct response (not XML, hostile XML, too deep or too many elements,
    a bad paging attribute, or the wrong shape)."""


def parse_count(name: str, value: str | None) -> int | None:
    """A paging count attribute (`count`, `totalcount`, `numremaining`); absent or empty is None.

    Anything but plain ASCII digits raises `MalformedResponse` (never ValueError).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _COUNT_RE.fullmatch(text):
        raise MalformedResponse(f"attribute '{name}' is not a count")
    return int(text)


def parse_result_id(value: str | None) -> str | None:
    """A readByQuery `resultId`; absent or empty is None, anything but printable ASCII raises."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _RESULT_ID_RE.fullmatch(text):
        raise MalformedResponse("attribute 'resultId' is not a result id")
    return text


class _TooBig(Exception):
    pass


class _BoundedTreeBuilder:
    """An ElementTree parser target that refuses a document deeper than `max_depth` or with more
    than `max_elements` elements as soon as the parser reaches the offending element, before the
    rest of the tree is built."""

    def __init__(self, max_depth: int, max_elements: int) -> None:
        self._builder = ET.TreeBuilder()
        self._max_depth = max_depth
        self._max_elements = max_elements
        self._depth = 0
        self._elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._depth += 1
        self._elements += 1
        if self._depth > self._max_depth:
            raise _TooBig(f"nested deeper than {self._max_depth} levels")
        if self._elements > self._max_elements:
            raise _TooBig(f"more than {self._max_elements} elements")
        return self._builder.start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return self._builder.end(tag)

    def data(self, data: str) -> None:
        self._builder.data(data)

    def close(self) -> ET.Element:
        return self._builder.close()


def _slices(body: bytes) -> Iterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(view), _FEED_BYTES):
        yield view[start : start + _FEED_BYTES]


def _parse_bounded(chunks: Iterable[bytes | memoryview], *, max_depth: int, max_elements: int) -> ET.Element:
    target = _BoundedTreeBuilder(max_depth, max_elements)
    parser = DET.DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    # Fed in pieces: handing expat a whole large body at once makes it copy all of it first.
    for chunk in chunks:
        parser.feed(chunk)
    root: ET.Element = parser.close()
    return root


ResultStatus = Literal["success", "failure", "aborted"]


def _flatten(el: ET.Element, prefix: str, out: Record) -> None:
    for child in el:
        key = f"{prefix}{child.tag}"
        if len(child):
            _flatten(child, key + ".", out)
        else:
            out[key] = child.text or ""


@dataclass(frozen=True)
class Result:
    """One `<result>`: status, identity, and what came back (key, data, errors)."""

    status: ResultStatus
    function: str
    controlid: str
    key: str | None = None
    data: ET.Element | None = field(default=None, compare=False, repr=False)
    errors: tuple[ErrorDetail, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def _attr(self, name: str) -> str | None:
        return None if self.data is None else self.data.get(name)

    def _int_attr(self, name: str) -> int | None:
        return parse_count(name, self._attr(name))

    @property
    def count(self) -> int | None:
        return self._int_attr("count")

    @property
    def total_count(self) -> int | None:
        return self._int_attr("totalcount")

    @property
    def num_remaining(self) -> int | None:
        return self._int_attr("numremaining")

    @property
    def result_id(self) -> str | None:
        return parse_result_id(self._attr("resultId"))

    def records(self) -> list[Record]:
        """Each child of `<data>` as a flat dict; nested elements become dotted keys.

        `<customer><DISPLAYCONTACT><EMAIL1>x</EMAIL1>...` gives {"DISPLAYCONTACT.EMAIL1": "x"},
        the same spelling `query` uses for related fields.
        """
        if self.data is None:
            return []
        out: list[Record] = []
        for child in self.data:
            rec: Record = {}
            _flatten(child, "", rec)
            out.append(rec)
        return out

    def iter_elements(self, path: str) -> Iterator[ET.Element]:
        """Elements under `<data>` matching an ElementTree path (legacy shapes)."""
        if self.data is not None:
            yield from self.data.iterfind(path)


@dataclass(frozen=True)
class Response:
    control_status: str
    control_errors: tuple[ErrorDetail, ...]
    auth_status: str | None
    auth_errors: tuple[ErrorDetail, ...]
    results: tuple[Result, ...]
    session_timeout: str | None = None


def _text(el: ET.Element | None, tag: str) -> str:
    if el is None:
        return ""
    child = el.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _errors(container: ET.Element | None) -> tuple[ErrorDetail, ...]:
    if container is None:
        return ()
    msg = container.find("errormessage") if container.tag != "errormessage" else container
    if msg is None:
        return ()
    return tuple(
        ErrorDetail(
            errorno=_text(err, "errorno"),
            description=_text(err, "description"),
            description2=_text(err, "description2"),
            correction=_text(err, "correction"),
        )
        for err in msg.findall("error")
    )


def parse_response(
    body: bytes | Sequence[bytes], *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS
) -> Response:
    """Parse a gateway answer: the body, or the chunks it was read in (no joined copy is made).

    Raises `MalformedResponse` for anything not an Intacct response, including one nested deeper
    than `max_depth`, holding more than `max_elements` elements, or with a paging attribute
    (count, totalcount, numremaining, resultId) that is not well formed.
    """
    chunks = _slices(body) if isinstance(body, bytes) else iter(body)
    try:
        root = _parse_bounded(chunks, max_depth=max_depth, max_elements=max_elements)
    except _TooBig as exc:
        raise MalformedResponse(f"refused: {exc}") from None
    except (DefusedXmlException, ET.ParseError, ValueError, RecursionError, MemoryError) as exc:
        raise MalformedResponse(f"not a safe XML document: {type(exc).__name__}") from None
    return _response_from_root(root)


def _response_from_root(root: ET.Element) -> Response:
    if root.tag != "response":
        raise MalformedResponse(f"root element is <{root.tag}>, expected <response>")
    control = root.find("control")
    control_status = _text(control, "status")
    if control_status not in ("success", "failure"):
        raise MalformedResponse("response has no control status")
    control_errors = _errors(root)
    operation = root.find("operation")
    auth = operation.find("authentication") if operation is not None else None
    results: list[Result] = []
    if operation is not None:
        for res in operation.findall("result"):
            status = _text(res, "status")
            if status not in ("success", "failure", "aborted"):
                raise MalformedResponse(f"result with status '{status}'")
            data = res.find("data")
            if data is not None:
                # Checked here, not when read, so a bad value fails inside the client's error
                # handling (unknown outcome for a write) rather than later in a caller's loop.
                for name in _COUNT_ATTRS:
                    parse_count(name, data.get(name))
                parse_result_id(data.get("resultId"))
            results.append(
                Result(
                    status=status,  # type: ignore[arg-type]  # checked just above
                    function=_text(res, "function"),
                    controlid=_text(res, "controlid"),
                    key=_text(res, "key") or None,
                    data=data,
                    errors=_errors(res),
                )
            )
    auth_errors = _errors(operation) if operation is not None else ()
    return Response(
        control_status=control_status,
        control_errors=control_errors,
        auth_status=_text(auth, "status") or None,
        auth_errors=auth_errors,
        results=tuple(results),
        session_timeout=_text(auth, "sessiontimeout") or None,
    )


# --- streamed answers ------------------------------------------------------------------------

_DATA_PATH: Final = ("response", "operation", "result", "data")
_CONTROL_STATUS: Final = ("response", "control", "status")
_AUTH_STATUS: Final = ("response", "operation", "authentication", "status")
_RESULT_STATUS: Final = ("response", "operation", "result", "status")
_RESULT_CONTROLID: Final = ("response", "operation", "result", "controlid")
MAX_GAP_BYTES: Final = 64 * 1024 * 1024
"""A streamed answer may not run longer than this between two complete records (the same bound a
whole answer has), so no single record, text or run of other content can grow without limit."""


def _refuse_dtd(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _refuse_entity(*decl: Any) -> None:
    # expat: (name, is_parameter_entity, value, base, sysid, pubid, notation_name)
    name, _, value, base, sysid, pubid, notation = decl
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation)


def _refuse_unparsed_entity(name: str, base: str | None, sysid: str, pubid: str | None, notation: str) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation)


def _refuse_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


class ResponseStream:
    """An answer parsed as it arrives, whose records are handed out one at a time and not kept.

    `feed()` each chunk of the body as it is read: it returns the records completed so far, as
    flat dicts (the same shape `Result.records()` gives). `close()` ends the parse and returns the
    last records and the rest of the answer as a `Response` (envelope, statuses, errors; its
    `data` no longer holds the streamed records).

    Records are the elements at `record_path` under a result's `<data>` (`("icitemtotals",
    "itemtotal")`; `"*"` matches any tag). They are handed out only once the control,
    authentication and result statuses before them said success and the result is the one for
    `controlid` (the DTD puts those first); anything else stays in the tree and is reported by the
    `Response` as usual.

    The same refusals as `parse_response`: DTDs, entity declarations and external references
    (defusedxml's three checks, on the same expat parser), more than `max_depth` levels, and more
    than `max_elements` elements held at once (streamed records are released as they complete),
    each as soon as the parser reaches it; paging attributes of `<data>` checked when it opens; and
    no more than `max_gap_bytes` between two complete records. Every failure is a
    `MalformedResponse`.
    """

    def __init__(
        self,
        record_path: Sequence[str],
        *,
        controlid: str,
        max_depth: int = MAX_DEPTH,
        max_elements: int = MAX_ELEMENTS,
        max_gap_bytes: int = MAX_GAP_BYTES,
    ) -> None:
        if not record_path:
            raise ValueError("record_path names at least the record element")
        self._record_path = (*_DATA_PATH, *record_path)
        self._record_depth = len(self._record_path)
        self._controlid = controlid
        self._max_depth = max_depth
        self._max_elements = max_elements
        self._max_gap = max_gap_bytes
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_entity
        parser.UnparsedEntityDeclHandler = _refuse_unparsed_entity
        parser.ExternalEntityRefHandler = _refuse_external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._data
        self._parser: expat.XMLParserType | None = parser
        self._builder = ET.TreeBuilder()
        self._path: list[str] = []
        self._depth = 0
        self._live = 0
        self._open = False
        self._statuses: dict[tuple[str, ...], str] = {}
        self._record: Record | None = None
        self._record_elements = 0
        self._fields: list[str] = []
        self._leaf: list[bool] = []
        self._text: list[str] = []
        self._between_records = False
        self._exact = None if "*" in record_path else list(self._record_path)
        self._ready: list[Record] = []
        self._since_record = 0
        self.records = 0
        """Records handed out so far."""

    # expat handlers (called for every element: kept lean)

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        self._live += 1
        if self._depth > self._max_depth:
            raise _TooBig(f"nested deeper than {self._max_depth} levels")
        if self._live > self._max_elements:
            raise _TooBig(f"more than {self._max_elements} elements")
        if self._record is not None:
            if self._leaf:
                self._leaf[-1] = False
            self._fields.append(tag)
            self._leaf.append(True)
            self._text = []
            self._record_elements += 1
            return
        path = self._path
        path.append(tag)
        depth = self._depth
        if depth == self._record_depth and self._open and self._is_record(path):
            self._record = {}
            self._record_elements = 1
            return
        self._between_records = False
        if depth == 3 and tag == "result":
            self._statuses.pop(_RESULT_STATUS, None)
            self._statuses.pop(_RESULT_CONTROLID, None)
            self._open = False
        elif depth == 4 and tag == "data" and tuple(path) == _DATA_PATH:
            for name in _COUNT_ATTRS:
                parse_count(name, attrs.get(name))
            parse_result_id(attrs.get("resultId"))
        self._builder.start(tag, attrs)

    def _is_record(self, path: list[str]) -> bool:
        if self._exact is not None:
            return path == self._exact
        return all(want in ("*", got) for want, got in zip(self._record_path, path, strict=True))

    def _data(self, text: str) -> None:
        if self._record is not None:
            self._text.append(text)
        elif not self._between_records:
            self._builder.data(text)
        # else: text between two streamed records (indentation) is dropped, not gathered

    def _end(self, tag: str) -> None:
        self._depth -= 1
        record = self._record
        if record is not None:
            if self._fields:
                name = self._fields.pop()
                if self._leaf.pop():
                    record[".".join((*self._fields, name)) if self._fields else name] = "".join(self._text)
                self._text = []
                return
            self._path.pop()
            self._live -= self._record_elements
            self._record = None
            self._ready.append(record)
            self._between_records = True
            return
        self._between_records = False
        if tag in ("status", "controlid"):
            where = tuple(self._path)
            element = self._builder.end(tag)
            if where in (_CONTROL_STATUS, _AUTH_STATUS, _RESULT_STATUS, _RESULT_CONTROLID):
                self._statuses[where] = (element.text or "").strip()
                self._open = (
                    self._statuses.get(_CONTROL_STATUS) == "success"
                    and self._statuses.get(_AUTH_STATUS) == "success"
                    and self._statuses.get(_RESULT_STATUS) == "success"
                    and self._statuses.get(_RESULT_CONTROLID) == self._controlid
                )
        else:
            self._builder.end(tag)
        self._path.pop()

    # feeding

    def _parse(self, chunk: bytes | memoryview, final: bool) -> list[Record]:
        if self._parser is None:
            raise ValueError("the stream is closed")
        try:
            self._parser.Parse(chunk, final)
        except _TooBig as exc:
            raise MalformedResponse(f"refused: {exc}") from None
        except (DefusedXmlException, expat.ExpatError, ValueError, RecursionError, MemoryError) as exc:
            raise MalformedResponse(f"not a safe XML document: {type(exc).__name__}") from None
        ready = self._ready
        if ready:
            self._ready = []
            self.records += len(ready)
            self._since_record = 0
        return ready

    def feed(self, chunk: bytes | memoryview) -> list[Record]:
        """Parse the next piece of the body; the records it completed."""
        out: list[Record] = []
        for piece in _slices(bytes(chunk)) if len(chunk) > _FEED_BYTES else (chunk,):
            self._since_record += len(piece)
            out += self._parse(piece, False)
            if self._since_record > self._max_gap:
                raise MalformedResponse(f"refused: more than {self._max_gap} bytes without a complete record")
        return out

    def close(self) -> tuple[list[Record], Response]:
        """End of the body: the last records, and the answer without them."""
        last = self._parse(b"", True)
        self._parser = None
        try:
            root = self._builder.close()
        except (ET.ParseError, ValueError) as exc:  # pragma: no cover - expat refused it first
            raise MalformedResponse(f"not a safe XML document: {type(exc).__name__}") from None
        response = _response_from_root(root)
        # A result whose records could not be streamed (an answer out of the DTD's order) still
        # gives them, from the tree, bounded like any parsed answer.
        inner = "/".join(self._record_path[len(_DATA_PATH) :])
        for result in response.results:
            if result.ok and result.controlid == self._controlid and result.data is not None:
                for element in result.data.iterfind(inner):
                    record: Record = {}
                    _flatten(element, "", record)
                    last.append(record)
                    self.records += 1
        return last, response
