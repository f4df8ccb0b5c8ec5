"""US states and Canadian provinces by code and name, so a region condition matches either.

Shopify and WooCommerce send the code (`province_code`, `state`: "CA"), BigCommerce the name
(`state`: "California"); a rule written either way must match both. Only these two countries
are tabled (ISO 3166-2 subdivision codes as the channels use them); any other region compares
as written, case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

_US: Final = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "AA": "Armed Forces Americas", "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}  # fmt: skip
_CA: Final = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip
_EXTRA_NAMES: Final = {"Québec": "QC", "Virgin Islands": "VI", "Newfoundland": "NL", "Yukon Territory": "YT"}

_TABLES: Final = {"US": _US, "CA": _CA}


def _lookup(country: str | None) -> dict[str, str]:
    """casefolded code or name -> code, for `country` (both countries when unknown)."""
    tables = [_TABLES[country]] if country in _TABLES else list(_TABLES.values()) if country is None else []
    found: dict[str, str] = {}
    for table in tables:
        for code, name in table.items():
            found[code.casefold()] = code
            found[name.casefold()] = code
    if tables:
        for name, code in _EXTRA_NAMES.items():
            if any(code in t for t in tables):
                found[name.casefold()] = code
    return found


def region_forms(region: str, country: str | None) -> frozenset[str]:
    """The casefolded spellings that name the same region: itself, plus its code (US/CA)."""
    key = region.strip().casefold()
    code = _lookup(country).get(key)
    return frozenset({key, code.casefold()} if code else {key})


def region_matches(region: str | None, country: str | None, wanted: Iterable[str]) -> bool:
    """Whether `region` (as the channel sent it) is any of `wanted` (codes or names)."""
    if region is None or not region.strip():
        return False
    mine = region_forms(region, country)
    return any(mine & region_forms(w, country) for w in wanted)
