"""Grids of runs: expanding a grid file into cells, running them (local worker processes or Ray),
resuming an interrupted sweep and its summary."""
