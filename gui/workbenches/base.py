"""The workbench plug-in interface."""
from __future__ import annotations


class Workbench:
    """Subclass, set `title`, and add menus/docks/actions in `install(window)`.

    `on_scene_changed(scene)` runs after a scene is opened or replaced. Receive picks with
    `window.connect_pick(self, fn)` and image clicks with `window.connect_click(self, fn)`: they reach `fn` only
    while this workbench's workspace is active. Compute through
    `window.start_job(...)`; record edits with `window.push(command)`; register an object with
    `save_annotations(project)`/`restore_annotations(project)` in `window.annotation_providers` so edits
    are saved with the project and autosaved.
    """

    title = "Workbench"
    workspace: str | None = None  # the workspace whose docks these are (None: a tool shown everywhere)

    def __init__(self, window):
        self.window = window

    def install(self, window) -> None:
        raise NotImplementedError

    def on_scene_changed(self, scene) -> None:
        pass
