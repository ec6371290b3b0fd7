"""MIND Explorer, the Streamlit app over mind_core (`streamlit run app/main.py`): the pages in
views/, shared widgets and charts in components/, data, models and jobs in services/."""
