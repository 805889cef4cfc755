"""FCN: Fully Convolutional Networks for Semantic Segmentation, Caffe-faithful.

The application around the engine (``torchcaffe``) or real pycaffe: datasets and
data layers, scoring, surgery, training, inference, export, charts, the paper's analyses
and the ``fcn`` command. Submodules load on use, so ``import fcn`` is light.
"""
import os

# A checkout's root: the experiments, data/ and ilsvrc-nets/ live here.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(model, weights=None, **options):
    """A trained FCN that labels images: ``fcn.load(deploy, weights)`` or ``fcn.load(RUN)``.

    See fcn.model.load for the options; ``model.predict(image)`` gives the label map.
    """
    from fcn import model as _model  # torch (or pycaffe) loads here, not on `import fcn`
    return _model.load(model, weights, **options)


def export(net, weights=None, out=None, format='pytorch', overwrite=False):
    """Write a Caffe net as a plain PyTorch module (``out``/model.py + weights.pt, needing only
    torch) or as ONNX (``out``/model.onnx): ``fcn.export(deploy, weights, out=DIR)``, or
    ``fcn.export(fcn.load(...), out=DIR, format='onnx')``. See fcn.exporter.export."""
    from fcn import exporter
    return exporter.export(net, weights, out, format, overwrite)
