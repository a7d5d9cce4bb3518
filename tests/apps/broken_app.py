"""An app module that cannot be imported."""

raise RuntimeError("broken_app refuses to import")
