"""What the Streamlit page needs besides drawing: runs, the shared engine, cards, page helpers and UI text.

Nothing here draws on the page, so all of it is testable without Streamlit
running; ``app.py`` at the repository root only renders.
"""
