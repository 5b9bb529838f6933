"""Paper packages: each describes one paper (a paper file) and plugs its experiments, model
variants and vocabulary into the engine through the registries (see :mod:`lcsuite.registry`)."""
