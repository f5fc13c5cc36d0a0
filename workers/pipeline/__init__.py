"""One capture through its stages: a typed job, a runner, one module per stage.

- ``runner.py``: :class:`~workers.pipeline.runner.Pipeline`, which claims a capture, runs
  its job through the stages in order, records each stage once and publishes once.
- ``job.py``: the :class:`~workers.pipeline.job.Job` a capture accumulates, and its source.
- ``stage.py``: what a stage is (``done``/``name``/``run``) and the tools it may use.
- ``stages/``: the stages, declared in order in ``stages/__init__.py``: metadata, source
  (resume, kind, stitch or validate), privacy, tiles and previews, publish, tour.
- ``render.py``: the tiles and previews of one equirect, written to a store.
- ``checkpoint.py``: the blurred source kept for the retry of a failed job.
- ``version.py``: the scene version, a hash of everything that decides the output.
- ``inputs.py``: the data files a worker reads at its edge (lens profiles, face model).
- ``orientation.py``: levelling and heading of a scene.
"""
