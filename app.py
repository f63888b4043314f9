"""lychee-rerank's local web app: ``streamlit run app.py`` (or ``./dev.sh app``).

The page is view.py; this file adds the server routes of its live view (a running job's progress
as JSON, see lychee_rerank/app/live_feed.py) and is what ``streamlit run`` starts.
"""

import streamlit as st

from lychee_rerank.app.live_feed import routes

app = st.App("view.py", routes=routes())
