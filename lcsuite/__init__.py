"""lcsuite: layer-wise conditioning analysis of deep networks, and an engine that verifies what
papers claim about learning dynamics.

The analysis lives in :mod:`lcsuite.conditioning`; ``lcsuite.analyze`` is its entry point for a
user's own model, and ``lcsuite.Monitor`` (:mod:`lcsuite.monitor`) records it inside a user's
training loop and diagnoses what it sees. The claim engine (``pytest claims/``) is
:mod:`lcsuite.harness` with :mod:`lcsuite.reporting`; papers plug into it through the registries
of :mod:`lcsuite.registry` (this package ships one: :mod:`lcsuite.papers.huang2020`).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "analyze", "Monitor"]


def __getattr__(name):
    # Imported lazily so that `import lcsuite` (and pytest plugin loading) stays cheap.
    if name == "analyze":
        from lcsuite.conditioning.analyze import analyze

        return analyze
    if name == "Monitor":
        from lcsuite.monitor import Monitor

        return Monitor
    raise AttributeError(f"module 'lcsuite' has no attribute {name!r}")
