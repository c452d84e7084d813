"""Streamlit-only helpers shared by the dashboard pages (the core never imports this)."""
