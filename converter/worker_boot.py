"""Imported first in the quantize workers' fork server, before NumPy.

NumPy's bundled OpenBLAS starts a thread per core when it is imported; the workers make no BLAS calls and each is
one core's worth of work, so those threads only cost start-up time (measured: importing NumPy takes 0.32 s of CPU
with them, 0.14 s without). Values the user has set are kept.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
