"""One capture through its stages: a typed job, a runner, one module per stage."""
