"""The command line: one module per command, composed in app.py; render.py prints."""


def main() -> None:
    """The ``tensortool`` command. Signals are handled before the (slow) imports of torch and the rest."""
    from . import signals

    signals.install()
    try:
        from .app import app

        app()
    except KeyboardInterrupt:  # outside any command's guard: start-up, option parsing
        signals.interrupted()
