"""The claim harness: claim files, measuring items into stored results, judging them, runs.

- :mod:`lcsuite.harness.schema`: load and validate claim files into :class:`~lcsuite.harness.schema.Claim`
  (with :mod:`lcsuite.harness.protocol`: variants, validity conditions, diagnoses).
- :mod:`lcsuite.harness.experiments`: the experiment registry and the context experiments get.
- :mod:`lcsuite.harness.measure`: measure one item over its seeds into a result file
  (:mod:`lcsuite.harness.determinism`, :mod:`lcsuite.harness.quantities`); its provenance and
  the code it depends on: :mod:`lcsuite.harness.provenance`, :mod:`lcsuite.harness.measuring_code`.
- :mod:`lcsuite.harness.store`: the HDF5 result file (``write_item``, ``read_item``, ``copy_item``).
- :mod:`lcsuite.harness.runs`: a run directory, its plan and verdicts (``latest_run``, ``run_records``).
- :mod:`lcsuite.harness.reuse`: when a stored result may stand in for a new measurement.
- :mod:`lcsuite.harness.checks`: the ``check = "..."`` vocabulary (a registry plugins extend);
  :mod:`lcsuite.harness.judge` applies it to a stored result.
- :mod:`lcsuite.harness.runner`: one item inline (reuse or measure, then judge);
  :mod:`lcsuite.harness.executors`: items on other processes or a Slurm cluster.
- :mod:`lcsuite.harness.session`: one pytest session's run (see :mod:`lcsuite.pytest_plugin`);
  :mod:`lcsuite.harness.devices`: the device an item is measured on, worker thread caps
  and GPU pinning under pytest-xdist.

The terminal table and the report are :mod:`lcsuite.reporting`.
"""
