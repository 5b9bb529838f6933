"""Reporting on stored runs: the terminal table, the markdown report with figures, compare."""
