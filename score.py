"""The original FCN name of fcn.score: fast_hist, compute_hist, seg_tests, do_seg_tests and the paper's metrics.

``import score`` gives the module fcn.score itself, so the original authors' scripts
and our own share one copy of it.
"""
import sys

import fcn.score

if __name__ == '__main__':
    sys.exit(fcn.score.main())
sys.modules[__name__] = fcn.score
