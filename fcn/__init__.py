"""FCN: Fully Convolutional Networks for Semantic Segmentation, Caffe-faithful.

The application around the engine (``torchcaffe``) or real pycaffe: datasets and
data layers, scoring, surgery, training, inference, charts, the paper's analyses
and the ``fcn`` command. Submodules load on use, so ``import fcn`` is light.
"""
import os

# A checkout's root: the experiments, data/ and ilsvrc-nets/ live here.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
