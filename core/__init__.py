"""Dropout Lab's engine: everything that computes, with no Streamlit (see core/ui for that)."""
