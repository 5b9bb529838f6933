"""lcsuite benchmarks (speed and memory); each module runs as a script and is importable."""
