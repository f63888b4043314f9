"""Images the page's own components show, served by Streamlit's media endpoint under stable URLs.

A URL names the bytes (Streamlit's file id is a hash of the content), so the browser caches each
image once, and an image re-registered on a later run keeps its URL. Streamlit keeps a file while
the session still registers it at some slot: slots stay registered across fragment reruns, and a
full run drops the slots it did not register again.
"""

from __future__ import annotations

import base64

from streamlit import runtime


def image_url(jpeg: bytes, slot: str) -> str:
    """A URL for a JPEG shown by this session at ``slot`` (a data: URI when no Streamlit server runs)."""
    if not runtime.exists():
        return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return runtime.get_instance().media_file_mgr.add(jpeg, "image/jpeg", slot)
