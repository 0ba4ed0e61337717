"""Occupancy engine: grids, metrics, voxelisation, ray-cast visibility, multi-frame aggregation, exports.

Kept free of Qt/VTK so the CLI, the tests and the GUI workbench share one implementation of every number
the user sees.
"""
