"""lcsuite: layer-wise conditioning analysis of deep networks (Huang et al., ECCV 2020).

The analysis itself lives in :mod:`lcsuite.conditioning`; ``lcsuite.analyze`` is its entry
point for a user's own model, and ``lcsuite.Monitor`` (:mod:`lcsuite.monitor`) records it
inside a user's training loop and diagnoses what it sees. The claim suite (``pytest
claims/``) is built on :mod:`lcsuite.harness` and :mod:`lcsuite.experiments`.
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
