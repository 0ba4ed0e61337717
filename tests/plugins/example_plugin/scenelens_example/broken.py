"""A plug-in whose import fails: SceneLens must name it and keep working."""
raise RuntimeError("this example plug-in is broken on purpose")
