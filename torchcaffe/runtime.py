"""Process-wide pieces of pycaffe beyond the mode: solver count and rank, the
multiprocess flag, glog-style logging, a Timer, and NCCL (absent: torchcaffe
trains on several GPUs with torchrun instead, see torchcaffe.engine.parallel).
Importing this needs no torch."""
import logging
import sys
import time

_settings = {'solver_count': 1, 'solver_rank': 0, 'multiprocess': False}
_logger = logging.getLogger('caffe')
# glog's severities: INFO, WARNING, ERROR, FATAL
_LEVELS = (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


def solver_count():
    return _settings['solver_count']


def set_solver_count(count):
    _settings['solver_count'] = int(count)


def solver_rank():
    return _settings['solver_rank']


def set_solver_rank(rank):
    _settings['solver_rank'] = int(rank)


def set_multiprocess(multiprocess):
    _settings['multiprocess'] = bool(multiprocess)


def has_nccl():
    """False: this engine has no NCCL binding (multi-GPU training runs under torchrun)."""
    return False


class NCCL:
    """pycaffe's NCCL; not available here (``has_nccl()`` is False)."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError('torchcaffe has no NCCL binding: for multi-GPU training run '
                           '`torchrun --nproc_per_node N` (see fcn train --help)')

    @staticmethod
    def new_uid():
        NCCL()


def init_log(level=0, stderr=True):
    """Log Caffe messages of glog severity ``level`` and above (0 INFO .. 3 FATAL)."""
    if not 0 <= level < len(_LEVELS):
        raise ValueError('log level must be 0 (INFO) to 3 (FATAL), got %r' % level)
    _logger.handlers[:] = [logging.StreamHandler(sys.stderr if stderr else sys.stdout)]
    _logger.setLevel(_LEVELS[level])


def log(message):
    """Log ``message`` at INFO, as glog's LOG(INFO)."""
    _logger.info(message)


class Timer:
    """Caffe's wall-clock Timer: ``start``, ``stop``, then ``ms``."""

    def __init__(self):
        self._start = self._elapsed = None

    def start(self):
        self._start, self._elapsed = time.perf_counter(), None

    def stop(self):
        if self._start is not None:
            self._elapsed = time.perf_counter() - self._start
            self._start = None

    @property
    def ms(self):
        """Milliseconds from start to stop (to now while running)."""
        if self._start is not None:
            return (time.perf_counter() - self._start) * 1e3
        return (self._elapsed or 0.0) * 1e3
