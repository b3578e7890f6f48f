"""numpy's OpenBLAS on one thread per process, set when the first model loads.

OpenBLAS starts one thread per core and its idle threads spin. On the 2-core machine a call server runs on,
the MiniLM embedder's small GEMMs (one caller sentence: ~12 tokens) gain nothing from a second thread, while
the spinning one takes the core that Whisper, hibari and the event loop need: with four offline calls an
embedding took 100-200 ms at p50 with two BLAS threads and 12-25 ms with one, at a sixth of the CPU time
(``bench/capacity_offline.py`` showed the dialogue's embeddings, not Whisper, as the slowest reply stage).
An explicit ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` in the environment is left alone.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

BLAS_THREADS = 1
_done = False
_lock = threading.Lock()


def limit_blas_threads() -> None:
    """Idempotent; a missing ``threadpoolctl`` only costs the speed."""
    global _done
    with _lock:
        if _done:
            return
        _done = True
        if os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
            return
        try:
            from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
        except ImportError:
            log.warning("threadpoolctl is not installed: numpy's BLAS keeps one spinning thread per core")
            return
        threadpool_limits(limits=BLAS_THREADS, user_api="blas")
