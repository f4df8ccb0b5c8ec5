"""getAPISession."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ..contentmodel import ContentModels
from ..errors import FunctionError
from ..protocol import Ctx, Result, sub

MODELS = ContentModels({"getAPISession": "locationid?"})


def get_api_session(ctx: Ctx, el: Element) -> Result:
    loc_el = el.find("locationid")
    if loc_el is None:
        locationid = ctx.locationid
    else:
        locationid = (loc_el.text or "").strip() or None
        if locationid is not None and locationid not in ctx.company.get("entities", []):
            raise FunctionError.one(
                "Get API Session Failed",
                f"Invalid location ID '{locationid}'",
                f"'{locationid}' is not an entity of company '{ctx.company_id}'.",
                "Use an entity ID, or an empty <locationid/> for the top level.",
            )
    gw = ctx.gateway
    sess = gw.new_session(ctx.company_id, ctx.user["user_id"], locationid, ctx.sender)
    data = Element("data")
    api = sub(data, "api")
    sub(api, "sessionid", sess.sessionid)
    sub(api, "endpoint", gw.session_endpoint)
    sub(api, "locationid", locationid or "")
    return Result(data=data)
