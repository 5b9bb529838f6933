"""The claim harness: claim-file schema, expectation checks, item runner and HDF5 store.

- :mod:`lcsuite.harness.schema`: load and validate ``claims/*.toml`` into :class:`Claim`.
- :mod:`lcsuite.harness.checks`: the ``check = "..."`` vocabulary (a registry plugins extend).
- :mod:`lcsuite.harness.runner`: run one claim item (seeds, expectations, store, reuse).
- :mod:`lcsuite.harness.store`: the HDF5 layout and its readers (``read_item``, ``iter_run``,
  ``latest_run``) for the report and compare tools.
- :mod:`lcsuite.harness.table`: the terminal pass/fail table.
- :mod:`lcsuite.harness.devices`: the device an item is measured on, GPU pinning under pytest-xdist.
"""
