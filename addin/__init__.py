"""The Outlook add-in: API handlers for the task pane, and web/ (the task pane itself)."""
