"""NetSpec definitions shared by the experiments: FCN trunks, heads, and classifiers.

Each experiment's ``net.py`` builds its nets from these modules and writes them with
``write_prototxts``. A net for ``split`` 'deploy' takes Input layers and has no loss.
"""
import os

from torchcaffe.formats import prototxt


def write_prototxts(directory, messages):
    """Write each message of ``{name: message}`` to ``directory/<name>.prototxt``."""
    for name, message in messages.items():
        prototxt.write(os.path.join(directory, name + '.prototxt'), message)
