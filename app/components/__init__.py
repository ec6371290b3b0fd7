"""What the pages draw with: the shared widgets (sidebar, notices, training offers), the Plotly
charts and the colours. Components call services, never a page."""
