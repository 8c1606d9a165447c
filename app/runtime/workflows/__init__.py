"""Workflows the GUI and the CLI share: plan and run a quantization, size and judge the options, scan for models.

Qt-free: the GUI turns their progress into signals, the CLI into a progress line. ``app.gui`` and ``app.cli``
reach the converter only through this package (and ``converter.core``):

- :mod:`.pipeline`: the Quantize wizard's plan and run (download -> convert -> imatrix -> quantize -> quality);
- :mod:`.quantize`: quantize a GGUF, compute an importance matrix, and the one output-naming rule;
- :mod:`.gguf_files`: convert a checkpoint, summarize a GGUF (``kompakt convert``/``inspect``);
- :mod:`.options`, :mod:`.fit_badges`: per-type sizes and fit badges; :mod:`.model_scan`: the models on disk;
- :mod:`.process_job`: run a job in a child process; :mod:`.warm`: import heavy modules ahead of the jobs.
"""
