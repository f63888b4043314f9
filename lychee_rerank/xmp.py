"""One XMP sidecar file, read safely and merged: the XMP side of :mod:`.sidecars`.

* An existing sidecar is checked with ``defusedxml`` before anything else touches it: a DTD or
  entity declaration (billion laughs, external entities) or malformed XML is refused with
  :class:`~.errors.UnsafeSidecarError`, and the file is left as it was. XMP never needs a DTD.
* The XMP data model (namespaces, arrays, the serialisation other tools read) is Exiv2's, through
  ``pyexiv2``: it keeps every field it does not change, unknown namespaces included.
* Writes never leave a half-written sidecar: the new content is built in a temporary file in the
  same folder, flushed, then renamed over the target (an existing sidecar) or linked to its name (a
  new one, so a file that appeared meanwhile is never replaced).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from .errors import UnsafeSidecarError

LYCHEE_NAMESPACE = "http://lychee-rerank.invalid/xmp/1.0/"  # .invalid: a reserved name, never someone's domain
LYCHEE_PREFIX = "lychee"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024  # real sidecars are a few KB; a huge one is not ours to parse
RATING_KEY, LABEL_KEY = "Xmp.xmp.Rating", "Xmp.xmp.Label"
EMPTY_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    "</x:xmpmeta>\n"
    '<?xpacket end="w"?>'
).encode()

# pyexiv2 wraps one C++ library with global state (its namespace registry): one caller at a time.
_LOCK = threading.Lock()
_registered = False


def lychee_key(field: str) -> str:
    """The pyexiv2 key of a field in the lychee namespace (``lychee_key("score")`` -> ``Xmp.lychee.score``)."""
    return f"Xmp.{LYCHEE_PREFIX}.{field}"


def read_checked(path: Path) -> bytes:
    """An existing sidecar's bytes, once they are known to be safe, well-formed XML (else UnsafeSidecarError)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        raise UnsafeSidecarError(f"{path}: cannot read it ({exc.strerror or exc}); left untouched") from exc
    if len(data) > MAX_SIDECAR_BYTES:
        raise UnsafeSidecarError(f"{path}: over {MAX_SIDECAR_BYTES // 1024 // 1024} MiB, not a sidecar we merge into;"
                                 " left untouched")
    try:
        fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnsafeSidecarError(f"{path}: refused, it declares a DTD or entities ({type(exc).__name__}), which XMP"
                                 " never needs; left untouched (remove or fix it, then run again)") from exc
    except (ParseError, ValueError) as exc:
        raise UnsafeSidecarError(f"{path}: not well-formed XML ({exc}); left untouched (fix or remove it, then run"
                                 " again)") from exc
    return data


def read_fields(data: bytes) -> dict[str, object]:
    """Every XMP field of a checked sidecar's bytes, as pyexiv2 keys (``Xmp.xmp.Rating``) to values."""
    with _LOCK:
        image = _pyexiv2().ImageData(data)
        try:
            return dict(image.read_xmp())
        finally:
            image.close()


def write_merged(target: Path, existing: bytes | None, fields: Mapping[str, str]) -> None:
    """Write ``existing`` (a checked sidecar's bytes, or None for a new one) with ``fields`` set, atomically."""
    fd, temp_name = tempfile.mkstemp(prefix=".lychee-", suffix=".xmp.tmp", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(existing if existing is not None else EMPTY_PACKET)
        with _LOCK:
            _modify(temp, fields)
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
        if existing is None:
            os.link(temp, target)  # fails if a file took the name meanwhile: never replace what we did not read
        else:
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _pyexiv2():
    # lazy: pyexiv2 loads Exiv2 (a native library); only sidecar runs need it
    import pyexiv2

    global _registered
    if not _registered:
        pyexiv2.registerNs(LYCHEE_NAMESPACE, LYCHEE_PREFIX)
        _registered = True
    return pyexiv2


def _modify(path: Path, fields: Mapping[str, str]) -> None:
    image = _pyexiv2().Image(str(path))
    try:
        image.modify_xmp(dict(fields))
    finally:
        image.close()
