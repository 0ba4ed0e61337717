"""Dockable panels of the main window: scene browser, inspector, jobs and log."""
