"""ISO 3166-1 alpha-2 codes for the country names catalogs use (Iptc4xmpCore:CountryCode wants one).

A small table, not a dependency: catalogs name a few dozen countries. A name that is not here (or a
landmark on a border, "Canada / United States") gets no code, and nothing is written for it.
"""

from __future__ import annotations

_CODES = {
    "Argentina": "AR", "Australia": "AU", "Austria": "AT", "Bangladesh": "BD", "Belgium": "BE", "Brazil": "BR",
    "Cambodia": "KH", "Canada": "CA", "Chile": "CL", "China": "CN", "Colombia": "CO", "Croatia": "HR",
    "Czech Republic": "CZ", "Czechia": "CZ", "Denmark": "DK", "Egypt": "EG", "Finland": "FI", "France": "FR",
    "Germany": "DE", "Greece": "GR", "Hungary": "HU", "Iceland": "IS", "India": "IN", "Indonesia": "ID",
    "Iran": "IR", "Ireland": "IE", "Israel": "IL", "Italy": "IT", "Japan": "JP", "Jordan": "JO", "Kenya": "KE",
    "Malaysia": "MY", "Mexico": "MX", "Morocco": "MA", "Nepal": "NP", "Netherlands": "NL", "New Zealand": "NZ",
    "Norway": "NO", "Pakistan": "PK", "Palestine": "PS", "Peru": "PE", "Philippines": "PH", "Poland": "PL",
    "Portugal": "PT", "Russia": "RU", "Saudi Arabia": "SA", "Singapore": "SG", "Slovenia": "SI",
    "South Africa": "ZA", "South Korea": "KR", "Spain": "ES", "Sri Lanka": "LK", "Sweden": "SE",
    "Switzerland": "CH", "Tanzania": "TZ", "Thailand": "TH", "Turkey": "TR", "Türkiye": "TR",
    "United Arab Emirates": "AE", "United Kingdom": "GB", "United States": "US", "Venezuela": "VE",
    "Vietnam": "VN",
}  # fmt: skip
_BY_FOLDED = {name.casefold(): code for name, code in _CODES.items()}


def country_code(country: str | None) -> str | None:
    """`France` -> `FR`; None for an unknown name or several countries."""
    if not country:
        return None
    return _BY_FOLDED.get(country.strip().casefold())
