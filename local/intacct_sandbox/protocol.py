"""The XML gateway: envelope parsing/validation, authentication, sessions, dispatch, responses.

Transport-independent: `Gateway.handle(body, path)` returns the HTTP status, the response bytes
and a RequestLog entry. server.py wraps it in HTTP, latency, concurrency limits and faults.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree as DET

from .errors import AuthError, ControlError, ErrorDetail, FunctionError, SandboxError, schema_error
from .store import Store

LOGIN_PATH = "/ia/xml/xmlgw.phtml"
SESSION_PATH = "/na1/ia/xml/xmlgw.phtml"
GATEWAY_PATHS = (LOGIN_PATH, SESSION_PATH)

CONTROL_ORDER = (
    "senderid",
    "password",
    "controlid",
    "uniqueid",
    "dtdversion",
    "policyid",
    "debug",
    "includewhitespace",
    "showadditionalerrorinfo",
)
CONTROL_REQUIRED = ("senderid", "password", "controlid")

ROLLED_BACK = ErrorDetail(
    "XL03000009", None, "The entire transaction in this operation has been rolled back due to an error.", None
)


class FunctionCall(NamedTuple):
    name: str
    controlid: str | None
    object: str | None
    status: str | None


@dataclass
class RequestLog:
    time: float
    path: str
    http_status: int = 200
    auth: str | None = None  # "session" | "login" | None (never authenticated)
    sender: str | None = None
    company: str | None = None
    uniqueid: bool | None = None
    transaction: bool | None = None
    control_status: str | None = None
    functions: list[FunctionCall] = field(default_factory=list)
    fault: str | None = None
    entity: str | None = None  # the entity (login locationid) the request ran in; None: top level

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["functions"] = [f._asdict() for f in self.functions]
        return d


@dataclass
class Session:
    sessionid: str
    company: str
    user: str
    locationid: str | None
    sender: str
    expires: float


@dataclass
class Result:
    key: str | None = None
    data: Element | None = None


@dataclass
class ForcedError:
    """A function_error fault armed for one function of this request."""

    function: str | None
    error: ErrorDetail
    used: bool = False


@dataclass
class Ctx:
    gateway: Gateway
    store: Store
    company_id: str
    company: dict[str, Any]
    user: dict[str, Any]
    sender: str
    locationid: str | None
    function: str = ""

    def check(self, obj: str, module: str, function: str | None = None) -> None:
        from . import permissions

        permissions.check(self.user, function or self.function, obj, module)


@dataclass
class Outcome:
    status: int
    body: bytes
    log: RequestLog


def sub(parent: Element, tag: str, text: Any = None, **attrib: str) -> Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = str(text)
    return el


def to_bytes(root: Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", short_empty_elements=False, xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def error_block(parent: Element, errors: list[ErrorDetail]) -> None:
    em = sub(parent, "errormessage")
    for e in errors:
        er = sub(em, "error")
        sub(er, "errorno", e.errorno)
        sub(er, "description", e.description or "")
        sub(er, "description2", e.description2 or "")
        sub(er, "correction", e.correction or "")


def control_failure_xml(
    errors: list[ErrorDetail], senderid: str = "", controlid: str = "", uniqueid: str = "false"
) -> bytes:
    root = Element("response")
    ctl = sub(root, "control")
    sub(ctl, "status", "failure")
    sub(ctl, "senderid", senderid)
    sub(ctl, "controlid", controlid)
    sub(ctl, "uniqueid", uniqueid)
    sub(ctl, "dtdversion", "3.0")
    error_block(root, errors)
    return to_bytes(root)


def text_of(elem: Element | None, tag: str) -> str | None:
    if elem is None:
        return None
    child = elem.find(tag)
    if child is None:
        return None
    return child.text or ""


def parse_xml(body: bytes) -> Element:
    try:
        root: Element = DET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise schema_error(f"DTDs and entity declarations are not allowed ({type(exc).__name__}).") from exc
    except ET.ParseError as exc:
        raise schema_error(f"the request is not well-formed XML: {exc}") from exc
    return root


def peek_function_names(body: bytes) -> list[str]:
    """Best-effort list of function element names, for fault matching. Never raises."""
    try:
        root = parse_xml(body)
    except SandboxError:
        return []
    names = []
    for fn in root.iterfind("./operation/content/function"):
        kids = list(fn)
        if kids:
            names.append(kids[0].tag)
    return names


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat()


class Gateway:
    def __init__(
        self,
        store: Store,
        session_timeout_s: float = 3600,
        max_functions: int = 100,
        base_url: str = "",
        result_ttl_s: float = 1800,
    ) -> None:
        self.store = store
        self.session_timeout_s = session_timeout_s
        self.max_functions = max_functions
        self.base_url = base_url
        self.result_ttl_s = result_ttl_s
        self.sessions: dict[str, Session] = {}
        self.resultsets: dict[str, dict[str, Any]] = {}
        self.last_result_by_object: dict[tuple[str, str, str], str] = {}
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = time.time
        """Session expiry time (epoch seconds); the sandbox moves it with `advance_clock`."""

    # ---- sessions ------------------------------------------------------------------------
    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.resultsets.clear()
            self.last_result_by_object.clear()

    def new_session(self, company: str, user: str, locationid: str | None, sender: str) -> Session:
        sid = secrets.token_urlsafe(24) + ".."
        s = Session(sid, company, user, locationid, sender, self.clock() + self.session_timeout_s)
        with self.lock:
            self.sessions[sid] = s
        return s

    @property
    def session_endpoint(self) -> str:
        return self.base_url + SESSION_PATH

    # ---- entry point ---------------------------------------------------------------------
    def handle(self, body: bytes, path: str, forced: list[ForcedError] | None = None) -> Outcome:
        log = RequestLog(time=time.time(), path=path)
        with self.store.lock:
            try:
                root = self._handle(body, path, forced or [], log)
            except ControlError as exc:
                log.control_status = "failure"
                return Outcome(200, control_failure_xml(exc.errors, log.sender or "", ""), log)
        return Outcome(200, to_bytes(root), log)

    def _handle(self, body: bytes, path: str, forced: list[ForcedError], log: RequestLog) -> Element:
        from .functions import REGISTRY

        root = parse_xml(body)
        if root.tag != "request":
            raise schema_error(f"the root element must be 'request', not '{root.tag}'.")
        kids = list(root)
        if [k.tag for k in kids] != ["control", "operation"]:
            raise schema_error(
                "Element request content does not follow the DTD, expecting (control , operation), "
                f"got ({' '.join(k.tag for k in kids)}). The sandbox accepts exactly one operation."
            )
        control, operation = kids
        ctl = self._parse_control(control)
        log.sender = ctl["senderid"]
        uniqueid = (ctl.get("uniqueid") or "true").strip().lower() == "true"
        log.uniqueid = uniqueid

        # operation = authentication, preferences*, content
        op_kids = list(operation)
        tags = [k.tag for k in op_kids]
        if (
            len(tags) < 2
            or tags[0] != "authentication"
            or tags[-1] != "content"
            or any(t != "preferences" for t in tags[1:-1])
        ):
            raise schema_error(
                "Element operation content does not follow the DTD, expecting "
                f"(authentication , preferences* , content), got ({' '.join(tags)})."
            )
        txn_attr = operation.get("transaction", "false")
        if txn_attr not in ("true", "false"):
            raise schema_error(f"attribute transaction of operation must be true or false, not '{txn_attr}'.")
        transaction = txn_attr == "true"
        log.transaction = transaction
        auth_el, content = op_kids[0], op_kids[-1]
        auth = self._parse_auth(auth_el)

        functions = list(content)
        if not functions:
            raise schema_error("Element content content does not follow the DTD, expecting (function)+, got ().")
        for fn in functions:
            if fn.tag != "function":
                raise schema_error(f"Element content: element '{fn.tag}' is not expected, expecting 'function'.")
            cid = fn.get("controlid")
            if cid is None:
                raise schema_error("Element function: the attribute 'controlid' is required but missing.")
            if not 1 <= len(cid) <= 256:
                raise schema_error(
                    f"Element function: attribute controlid must be 1 to 256 characters long, got {len(cid)}."
                )
            if len(fn) != 1:
                raise schema_error(
                    f"Element function (controlid '{cid}') must contain exactly one function element, got {len(fn)}."
                )
            entry = REGISTRY.get(fn[0].tag)
            if entry is not None and entry.validate is not None:
                entry.validate(fn[0])
        log.functions = [FunctionCall(fn[0].tag, fn.get("controlid"), _object_of(fn[0]), None) for fn in functions]

        # sender credentials (control level)
        if self.store.sender_password(ctl["senderid"]) != ctl["password"] or not ctl["senderid"]:
            raise ControlError.one(
                "XL03000006",
                "Incorrect Intacct XML Partner ID or password.",
                None,
                "Check the sender ID and sender password (the Web Services developer credentials).",
            )
        dtd = ctl.get("dtdversion")
        if dtd != "3.0":
            raise schema_error(
                f"dtdversion '{dtd or '(absent, meaning 2.1)'}' is not supported by the sandbox; send "
                "<dtdversion>3.0</dtdversion>."
            )
        if ctl.get("policyid") is not None:
            raise ControlError.one("XL03000006", f"{ctl['policyid']} is not a valid transport policy.")
        if len(functions) > self.max_functions:
            raise ControlError.one(
                "GW-0011",
                "Invalid Request",
                f"The request holds {len(functions)} functions; the limit is {self.max_functions}.",
                "Split the work into smaller requests.",
            )

        resp = Element("response")
        c = sub(resp, "control")
        sub(c, "status", "success")
        sub(c, "senderid", ctl["senderid"])
        sub(c, "controlid", ctl["controlid"])
        sub(c, "uniqueid", "true" if uniqueid else "false")
        sub(c, "dtdversion", "3.0")
        log.control_status = "success"
        op_out = sub(resp, "operation")

        try:
            ctx, auth_info = self._authenticate(auth, ctl["senderid"], path, log)
        except AuthError as exc:
            a = sub(op_out, "authentication")
            sub(a, "status", "failure")
            sub(a, "userid", auth.get("userid") or "")
            sub(a, "companyid", auth.get("companyid") or "")
            error_block(op_out, exc.errors)
            return resp
        a = sub(op_out, "authentication")
        sub(a, "status", "success")
        sub(a, "userid", auth_info["userid"])
        sub(a, "companyid", auth_info["companyid"])
        if auth_info.get("locationid"):
            sub(a, "locationid", auth_info["locationid"])
        sub(a, "sessiontimestamp", _iso(time.time()))
        sub(a, "sessiontimeout", _iso(auth_info["expires"]))

        results = self._run_functions(
            ctx, functions=functions, transaction=transaction, uniqueid=uniqueid, forced=forced, log=log
        )
        for fn, (status, res, errors) in zip(functions, results, strict=True):
            r = sub(op_out, "result")
            sub(r, "status", status)
            sub(r, "function", fn[0].tag)
            sub(r, "controlid", fn.get("controlid"))
            if res is not None and res.key is not None:
                sub(r, "key", res.key)
            if res is not None and res.data is not None and status == "success":
                r.append(res.data)
            if errors:
                error_block(r, errors)
        return resp

    # ---- envelope pieces -----------------------------------------------------------------
    def _parse_control(self, control: Element) -> dict[str, str]:
        names = [k.tag for k in control]
        pos = -1
        for n in names:
            if n not in CONTROL_ORDER:
                raise schema_error(f"Element control: element '{n}' is not expected.")
            idx = CONTROL_ORDER.index(n)
            if idx <= pos:
                raise schema_error(
                    "Element control content does not follow the DTD, expecting (senderid , password , "
                    "controlid , uniqueid? , dtdversion? , policyid? , debug? , includewhitespace? , "
                    f"showadditionalerrorinfo?), got ({' '.join(names)}): '{n}' is out of order."
                )
            pos = idx
        out = {k.tag: (k.text or "") for k in control}
        for req in CONTROL_REQUIRED:
            if req not in out:
                raise schema_error(f"Element control: required element '{req}' is missing.")
        if not 1 <= len(out["controlid"]) <= 256:
            raise schema_error("Element controlid must be 1 to 256 characters long.")
        for flag in ("uniqueid", "includewhitespace", "showadditionalerrorinfo", "debug"):
            if flag in out and out[flag].strip().lower() not in ("true", "false"):
                raise schema_error(f"Element {flag} must be true or false, not '{out[flag]}'.")
        return out

    def _parse_auth(self, auth_el: Element) -> dict[str, Any]:
        kids = list(auth_el)
        if len(kids) != 1 or kids[0].tag not in ("login", "sessionid"):
            raise schema_error(
                "Element authentication content does not follow the DTD, expecting (login | sessionid), "
                f"got ({' '.join(k.tag for k in kids)})."
            )
        if kids[0].tag == "sessionid":
            if len(kids[0]):
                raise schema_error("Element sessionid holds text only.")
            return {"kind": "session", "sessionid": (kids[0].text or "").strip()}
        login = kids[0]
        order = ["userid", "companyid", "password", "clientid", "locationid"]
        names = [k.tag for k in login]
        pos = -1
        for n in names:
            if n not in order or order.index(n) <= pos:
                raise schema_error(
                    "Element login content does not follow the DTD, expecting (userid , companyid , "
                    f"password , clientid? , locationid?), got ({' '.join(names)})."
                )
            pos = order.index(n)
        for req in ("userid", "companyid", "password"):
            if req not in names:
                raise schema_error(f"Element login: required element '{req}' is missing.")
        out: dict[str, Any] = {"kind": "login", **{k.tag: (k.text or "") for k in login}}
        return out

    def _authenticate(
        self, auth: dict[str, Any], sender: str, path: str, log: RequestLog
    ) -> tuple[Ctx, dict[str, Any]]:
        store = self.store
        if auth["kind"] == "login":
            log.auth = "login"
            company_id, user_id = auth["companyid"], auth["userid"]
            if "|" in company_id and "locationid" not in auth:
                company_id, auth["locationid"] = company_id.split("|", 1)
            company = store.company(company_id)
            user = next((u for u in (company or {}).get("users", []) if u["user_id"] == user_id), None)
            log.company = company_id if company else None
            if company is None or user is None or user.get("password") != auth["password"]:
                raise AuthError.one(
                    "XL03000006",
                    "Sign-in information is incorrect",
                    None,
                    "Check the company ID, user ID and user password of the Web Services user.",
                )
            self._check_sender_authorised(company, sender)
            locationid = (auth.get("locationid") or "").strip() or None
            self._check_entity(company, locationid)
            expires = self.clock() + self.session_timeout_s
        else:
            log.auth = "session"
            with self.lock:
                sess = self.sessions.get(auth["sessionid"])
                if sess is not None and sess.expires < self.clock():
                    del self.sessions[auth["sessionid"]]
                    sess = None
            if sess is None or path != SESSION_PATH:
                where = (
                    ""
                    if sess is None
                    else f" Session IDs are only accepted at the endpoint getAPISession returned "
                    f"({self.session_endpoint})."
                )
                raise AuthError.one(
                    "XL03000006",
                    "Invalid session",
                    "The session has expired or is invalid. Call getAPISession with login credentials." + where,
                    "Sign in again with login credentials (getAPISession) and use the returned endpoint.",
                )
            company = store.company(sess.company)
            user = next((u for u in (company or {}).get("users", []) if u["user_id"] == sess.user), None)
            if company is None or user is None:  # pragma: no cover - only after a reset race
                raise AuthError.one("XL03000006", "Invalid session", "The session's user no longer exists.")
            log.company = sess.company
            self._check_sender_authorised(company, sender)
            sess.expires = self.clock() + self.session_timeout_s
            company_id, user_id, locationid, expires = sess.company, sess.user, sess.locationid, sess.expires
        ctx = Ctx(self, store, company_id, company, user, sender, locationid)
        log.entity = locationid
        return ctx, {"userid": user_id, "companyid": company_id, "locationid": locationid, "expires": expires}

    @staticmethod
    def _check_sender_authorised(company: dict[str, Any], sender: str) -> None:
        if sender not in company.get("authorized_senders", []):
            cid = company["company_id"]
            raise AuthError.one(
                "XL03000006",
                "Invalid Web Services Authorization",
                f"The sender ID '{sender}' is not authorized to make Web Services requests to company ID '{cid}'.",
                "Contact the company administrator to grant Web Services authorization to this sender ID "
                "(Company > Setup > Company > Security > Web Services authorizations).",
            )

    @staticmethod
    def _check_entity(company: dict[str, Any], locationid: str | None) -> None:
        if locationid is None:
            return
        if locationid not in company.get("entities", []):
            raise AuthError.one(
                "XL03000006",
                "Sign-in information is incorrect",
                f"The entity (location ID) '{locationid}' does not exist in company "
                f"'{company['company_id']}' or the user has no access to it.",
                "Check the entity ID, or leave locationid out to sign in at the top level.",
            )

    # ---- functions -----------------------------------------------------------------------
    def _run_functions(
        self,
        ctx: Ctx,
        *,
        functions: list[Element],
        transaction: bool,
        uniqueid: bool,
        forced: list[ForcedError],
        log: RequestLog,
    ) -> list[tuple[str, Result | None, list[ErrorDetail]]]:
        store = self.store
        out: list[tuple[str, Result | None, list[ErrorDetail]]] = []
        failed = False
        store.entity = ctx.locationid  # records created now belong to the signed-in entity
        store.begin()
        try:
            for i, fn in enumerate(functions):
                if transaction and failed:
                    out.append(("aborted", None, [ROLLED_BACK]))
                    continue
                try:
                    with store.savepoint():
                        res = self._run_one(ctx, fn, i, uniqueid, forced)
                    out.append(("success", res, []))
                except FunctionError as exc:
                    errors = list(exc.errors)
                    if transaction:
                        errors.append(ROLLED_BACK)
                        failed = True
                    out.append(("failure", None, errors))
            if transaction and failed:
                store.rollback()
                out = [
                    ("aborted", None, [ROLLED_BACK]) if status == "success" else (status, res, errs)
                    for status, res, errs in out
                ]
            else:
                store.commit()
        except BaseException:
            store.rollback()
            raise
        finally:
            store.entity = None
        log.functions = [call._replace(status=status) for call, (status, _, _) in zip(log.functions, out, strict=True)]
        return out

    def _run_one(self, ctx: Ctx, fn: Element, index: int, uniqueid: bool, forced: list[ForcedError]) -> Result:
        from .functions import REGISTRY

        body = fn[0]
        name = body.tag
        controlid = fn.get("controlid") or ""
        for f in forced:
            if not f.used and (f.function == name or (f.function is None and index == 0)):
                f.used = True
                raise FunctionError([f.error])
        if uniqueid and self.store.controlid_done(ctx.sender, ctx.company_id, controlid):
            raise FunctionError.one(
                "XL03000012",
                "Duplicate control ID",
                f"A function with control ID '{controlid}' has already been executed and completed. "
                "Use a unique control ID or set uniqueid to false.",
                "Look the record up by its business key instead of re-sending the write.",
            )
        entry = REGISTRY.get(name)
        if entry is None:
            raise FunctionError.one(
                "XL03000003",
                f"Unknown function '{name}'",
                f"The function '{name}' is not supported by the Intacct sandbox (or does not exist).",
                "Check the function name against the Intacct XML API reference.",
            )
        ctx.function = name
        try:
            res = entry.handler(ctx, body)
        except SandboxError:
            raise
        except Exception as exc:
            print(f"[intacct-sandbox] internal error in {name} ({controlid}):", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            raise FunctionError.one(
                "SANDBOX-INTERNAL",
                f"Internal error in the Intacct sandbox: {type(exc).__name__}: {exc}",
                "This is a bug in the sandbox, not necessarily in the client.",
            ) from exc
        if uniqueid:
            self.store.mark_controlid(ctx.sender, ctx.company_id, controlid, name)
        return res


def _object_of(body: Element) -> str | None:
    tag = body.tag
    if tag in ("create_sotransaction", "update_sotransaction", "delete_sotransaction"):
        return "SODOCUMENT"
    if tag == "create_aradjustment":
        return "ARADJUSTMENT"
    if tag in ("create", "update", "delete") and len(body):
        return body[0].tag
    obj = body.find("object")
    if obj is not None and obj.text:
        return obj.text.strip().upper()
    if tag == "get_icitemtotals":
        return "ITEM"
    return None


__all__ = [
    "GATEWAY_PATHS",
    "LOGIN_PATH",
    "SESSION_PATH",
    "Ctx",
    "ForcedError",
    "FunctionCall",
    "Gateway",
    "Outcome",
    "RequestLog",
    "Result",
    "control_failure_xml",
    "peek_function_names",
    "sub",
    "text_of",
]
