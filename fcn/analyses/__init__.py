"""The paper's analyses the original code never shipped (docs/analyses.md): ``fcn analyze NAME``."""
import importlib
import sys

# name on the command line: (module, what it does)
ANALYSES = {
    'shift-stitch': ('shift_stitch', 'dense output from a coarse net: shift-and-stitch vs dilation (3.2)'),
    'momentum': ('momentum', "momentum and batch size; Table 2's regimes as solver presets (6.2)"),
    'upper-bound': ('upper_bound', 'upper bounds on mean IU at a given output stride (6.3)'),
    'hha': ('hha', "the HHA depth encoding of NYUDv2's HHA nets"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ANALYSES:
        width = max(map(len, ANALYSES))
        print('usage: fcn analyze NAME [options]   (fcn analyze NAME --help)\n\nanalyses:\n'
              + '\n'.join('  %-*s  %s' % (width, n, text) for n, (_, text) in ANALYSES.items()),
              file=sys.stdout if argv[:1] in (['-h'], ['--help']) else sys.stderr)
        return 0 if argv[:1] in (['-h'], ['--help']) else 2
    module = importlib.import_module('fcn.analyses.' + ANALYSES[argv[0]][0])
    sys.argv[0] = 'fcn analyze ' + argv[0]
    return module.main(argv[1:])
