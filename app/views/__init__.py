"""The five pages, one module each: ``render()`` draws the page from named panels; ``PAGE``
holds its title, URL path and icon for ``st.navigation`` (app/main.py)."""
