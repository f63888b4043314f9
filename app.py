"""lychee-rerank's local web app: ``streamlit run app.py`` (or ``./dev.sh app``).

The page is view.py; this file adds the server routes of its live view (a running job's progress
as JSON, see lychee_rerank/app/live_feed.py), deletes the runs' uploads on disk when the server
stops (lychee_rerank/intake/spool.py), and is what ``streamlit run`` starts.
"""

from contextlib import asynccontextmanager

import streamlit as st

from lychee_rerank.app.live_feed import routes
from lychee_rerank.intake.spool import delete_own_folders


@asynccontextmanager
async def lifespan(_app):
    yield
    delete_own_folders()  # the runs' uploads on disk go with the server


app = st.App("view.py", routes=routes(), lifespan=lifespan)
