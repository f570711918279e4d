"""Splitting a baseline JPEG file into its header (SOI .. SOS segment) and entropy-coded rest."""

from __future__ import annotations

SOI = b"\xff\xd8"
_SOS = 0xDA


def split_header(data: bytes) -> tuple[bytes, bytes]:
    """(header, remainder): header = SOI and every marker segment up to and including SOS.

    The remainder starts with entropy-coded data, where 0xFF is always followed by 0x00 or
    a restart marker, so a remainder can never start with SOI; the store uses that to tell
    a full file (header fallback) from a remainder.
    """
    if not data.startswith(SOI):
        raise ValueError("not a JPEG file: it does not start with the SOI marker")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"malformed JPEG: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        pos += 2 + length
        if marker == _SOS:
            return data[:pos], data[pos:]
    raise ValueError("malformed JPEG: no start-of-scan (SOS) segment")
