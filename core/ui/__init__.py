"""The only part of core that imports Streamlit: controls, session state and the live driver."""
