"""One module per layer type; each registers a builder with gui.views.builders.register_builder."""
