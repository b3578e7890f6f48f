"""X-Twilio-Signature: the webhook signature, checked and computed with the real ``twilio`` library.

Twilio signs the URL it requested (our *public* URL, not whatever host the proxy forwarded to us) plus the
sorted form fields, HMAC-SHA1 keyed with the account auth token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class FormParams:
    """Form fields as the validator reads them: ``getlist`` keeps repeated keys (e.g. StatusCallbackEvent)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in items:
            self._values.setdefault(key, []).append(value)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | list[str]]) -> FormParams:
        items: list[tuple[str, str]] = []
        for key, value in mapping.items():
            values = value if isinstance(value, list) else [value]
            items.extend((key, item) for item in values)
        return cls(items)

    def getlist(self, key: str) -> list[str]:
        return list(self._values.get(key, []))

    def first(self, key: str, default: str = "") -> str:
        values = self._values.get(key)
        return values[0] if values else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, str]:
        """First value of each field (what handlers read)."""
        return {key: values[0] for key, values in self._values.items() if values}


def public_url(public_base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio was told to request: public base + path (+ query exactly as sent)."""
    url = public_base_url.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url


def compute_signature(auth_token: str, url: str, params: FormParams | Mapping[str, str | list[str]]) -> str:
    form = params if isinstance(params, FormParams) else FormParams.from_mapping(params)
    signature: str = RequestValidator(auth_token).compute_signature(url, form)
    return signature


def is_valid_signature(
    auth_token: str, url: str, params: FormParams | Mapping[str, str | list[str]], signature: str | None
) -> bool:
    """Constant-time check; a missing signature or an empty auth token never validates."""
    if not signature or not auth_token:
        return False
    form = params if isinstance(params, FormParams) else FormParams.from_mapping(params)
    valid: bool = RequestValidator(auth_token).validate(url, form, signature)
    return valid
