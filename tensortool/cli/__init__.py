"""The command line: one module per command, composed in app.py; render.py prints."""
