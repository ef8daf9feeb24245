"""asv (airspeed velocity) benchmarks of fastbp; see asv.conf.json at the repository root."""
