"""The ``fcn`` command: one subcommand per task, each a module's ``main(argv)``.

Subcommands load on use, so ``fcn --help`` is quick and a task imports only what it needs.
"""
import importlib
import os
import sys

from fcn import REPO

# subcommand: (module, what it does)
COMMANDS = {
    'train': ('fcn.custom', 'train an FCN on your own images and masks (a run directory)'),
    'score': ('fcn.score', "score weights on the split a net's data layer reads"),
    'infer': ('fcn.infer', 'segment images: label PNGs and overlays'),
    'export': ('fcn.exporter', 'a Caffe net as a plain PyTorch module (model.py) or as ONNX'),
    'surgery': ('fcn.surgery', 'make the fully convolutional twin of an ILSVRC classifier'),
    'prepare': ('fcn.prepare', "prepare a dataset's splits and labels (data/README.md)"),
    'download': ('fcn.download', "fetch and verify an experiment's released weights"),
    'run': ('fcn.launch', 'run a pycaffe script with "import caffe" meaning this project\'s backend'),
    'analyze': ('fcn.analyses', "the paper's analyses: shift-and-stitch, momentum, upper bounds, HHA"),
    'bench': ('fcn.bench', "time the paper's nets on every backend (Table 1)"),
    'demo': ('fcn.demo', 'train, score and segment a narrow FCN-8s on synthetic data'),
}


def usage():
    width = max(map(len, COMMANDS))
    lines = ['usage: fcn COMMAND [options]   (fcn COMMAND --help for its options)', '',
             'Fully Convolutional Networks, Caffe-faithful, on PyTorch or real Caffe.', '',
             'commands:']
    lines += ['  %-*s  %s' % (width, name, text) for name, (_, text) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print('fcn: unknown command %r\n\n%s' % (name, usage()), file=sys.stderr)
        return 2
    if os.path.isfile(os.path.join(REPO, 'layers.py')) and REPO not in sys.path:
        # a checkout: the experiments' prototxts name module "layers" (the root's alias of fcn.layers);
        # appended, so nothing already importable is shadowed
        sys.path.append(REPO)
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv[0] = 'fcn ' + name  # argparse's prog in usage lines and errors
    return module.main(rest)
