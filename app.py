"""Dropout Lab: the router. Page config, navigation built from lesson metadata, then the page."""
from core.ui.frame import run_router

run_router()
