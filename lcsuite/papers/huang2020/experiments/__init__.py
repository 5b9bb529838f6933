"""The experiments of Huang et al. (ECCV 2020), one module per family of claims."""
