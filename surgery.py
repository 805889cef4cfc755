"""The original FCN name of fcn.surgery: net surgery: transplant, interp, upsample_filt, expand_score, ilsvrc-to-fcn.

``import surgery`` gives the module fcn.surgery itself, so the original authors' scripts
and our own share one copy of it.
"""
import sys

import fcn.surgery

if __name__ == '__main__':
    sys.exit(fcn.surgery.main())
sys.modules[__name__] = fcn.surgery
