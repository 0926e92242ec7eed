"""The portal's form bodies, urlencoded or multipart, read with the standard library.

Why here, once: the CSRF middleware must read the token from a body before any route sees it, and the
areas read the same bodies (the DmfA upload is multipart); one parser means the token the middleware
checked is the field the route reads. No extra dependency: ``email.parser`` reads MIME multipart.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, Upload]]:
    """Every field's values, and the files, of an urlencoded or multipart body (anything else: none).

    A multipart part named twice keeps its first occurrence (a file and a field never share a name).
    """
    kind = content_type.split(";")[0].strip().lower()
    fields: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    if kind == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str) or name in fields or name in files:
                    continue
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                filename = part.get_filename()
                if filename is not None:
                    files[name] = Upload(str(filename)[:255], data)
                else:
                    fields[name] = [data.decode("utf-8", "replace")]
    return fields, files


async def form_fields(request: Request) -> tuple[dict[str, str], dict[str, Upload]]:
    """The fields (each its first value) and files of a POST body."""
    values, files = parse_form(request.headers.get("content-type", ""), await request.body())
    return {name: found[0] for name, found in values.items() if found}, files
