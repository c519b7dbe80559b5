"""Request bodies of the tracking endpoints: read under a size cap, gunzip
(with the same cap on the decompressed size, so a small "zip bomb" cannot
blow up), and decode form-encoded text strictly as UTF-8."""
from __future__ import annotations

import zlib
from urllib.parse import unquote_to_bytes

from starlette.requests import ClientDisconnect, Request

from .. import strict_json
from ..errors import BadInput
from .errors import BodyRefused


async def read(request: Request, limit: int) -> bytes:
    """The body, decompressed per Content-Encoding; at most `limit` bytes either way."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, "body", f"larger than {limit // 1024} KiB")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body", f"larger than {limit // 1024} KiB")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadInput("body", "the client disconnected before sending the whole body") from None
    return decompress(b"".join(chunks), request.headers.get("content-encoding", ""), limit)


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = 32 + zlib.MAX_WBITS  # zlib or gzip header, detected
    else:
        raise BodyRefused(415, "Content-Encoding", f"{encoding!r} is not supported; send gzip or no encoding")
    out, rest = [], raw
    size = 0
    try:
        # A gzip stream may hold several members one after another.
        while rest:
            inflater = zlib.decompressobj(wbits)
            piece = inflater.decompress(rest, limit + 1 - size)
            size += len(piece)
            if size > limit or inflater.unconsumed_tail:
                raise BodyRefused(413, "body", f"larger than {limit // 1024} KiB once decompressed")
            if not inflater.eof:
                raise BadInput("body", f"the {encoding} data is truncated")
            out.append(piece)
            rest = inflater.unused_data
    except zlib.error as exc:
        raise BadInput("body", f"not valid {encoding} data ({exc})") from None
    return b"".join(out)


def utf8(raw: bytes, field: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(field, "not valid UTF-8") from None


def form_text(raw: bytes, field: str) -> str:
    """One form-encoded name or value: `+` is a space, `%XX` a byte, and the
    bytes strict UTF-8."""
    if b"%" in raw or b"+" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return utf8(raw, field)


def parse_form(raw: bytes, where: str) -> dict[str, str]:
    """application/x-www-form-urlencoded pairs, percent-decoded as strict UTF-8.
    A repeated name keeps its last value; pairs with an empty name are dropped.
    (form_text inlined: this runs for every tracking request.)"""
    # Decoded at once, then split: the same pairs whenever no escape decodes
    # to a separator (%26 is "&", %3D "=") and the bytes are UTF-8 (the
    # separators are ASCII, so no character spans them). unquote_to_bytes is
    # Python: one call per request instead of one per escaped name or value.
    if b"%26" not in raw and b"%3D" not in raw and b"%3d" not in raw:
        if b"+" in raw:
            raw_text = unquote_to_bytes(raw.replace(b"+", b" "))
        elif b"%" in raw:
            raw_text = unquote_to_bytes(raw)
        else:
            raw_text = raw
        try:
            text = raw_text.decode("utf-8")
        except UnicodeDecodeError:
            pass  # the pair by pair reading below names the one that is not
        else:
            decoded: dict[str, str] = {}
            for text_pair in text.split("&"):
                text_name, _, text_value = text_pair.partition("=")
                if text_name:
                    decoded[text_name] = text_value
            return decoded
    params: dict[str, str] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        if b"%" in name_raw or b"+" in name_raw:
            name_raw = unquote_to_bytes(name_raw.replace(b"+", b" "))
        try:
            name = name_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(where, "not valid UTF-8") from None
        if not name:
            continue
        if b"%" in value_raw or b"+" in value_raw:
            value_raw = unquote_to_bytes(value_raw.replace(b"+", b" "))
        try:
            params[name] = value_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(name, "not valid UTF-8") from None
    return params


def parse_json(raw: bytes) -> object:
    utf8(raw, "body")  # to say so plainly when it is not
    try:
        return strict_json.loads(raw)
    except strict_json.JSONDecodeError as exc:
        raise BadInput("body", f"not valid JSON ({exc})") from None
