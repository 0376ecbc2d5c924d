"""CLI command groups; each module exposes `register(app)` and is the only place its output is printed."""
