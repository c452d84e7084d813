"""Studies: orchestration above the Lab (sweeps over grids and seeds, and the probes built on them)."""
