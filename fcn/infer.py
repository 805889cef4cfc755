"""Segment images with a trained net: label PNGs in a palette and overlays.

    fcn infer --model RUN --out out/ image.jpg photos/
    fcn infer --deploy voc-fcn8s/deploy.prototxt \\
        --weights voc-fcn8s/fcn8s-heavy-pascal.caffemodel --out out/ image.jpg photos/

writes ``out/<name>.png`` (palette-mode label map: the pixels are class indices)
and ``out/<name>_overlay.png`` for each image. ``--model`` takes a run directory of
``fcn train`` (or its model.json): its mean, class names and palette come with it.
Works with any deploy net whose single Input takes a 3-channel image; each image
runs at its own size, and ``--batch N`` runs up to N images of one size per pass.
"""
import argparse
import os
import sys
import time

from PIL import Image

import fcn
from fcn import backend
from fcn.card import CardError

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff')


def find_images(paths):
    """The image files named in ``paths``, directories expanded to their images (sorted)."""
    images = []
    for path in paths:
        if os.path.isdir(path):
            images += sorted(os.path.join(path, f) for f in os.listdir(path)
                             if f.lower().endswith(EXTENSIONS))
        elif os.path.isfile(path):
            images.append(path)
        else:
            raise FileNotFoundError('no image or directory %s' % path)
    return images


def plan_outputs(images, out, overwrite=False):
    """The output name (``out``/<stem>, to which .png and _overlay.png are added) of each image.

    Raises ValueError, before anything is written, where an output would overwrite an
    input, two inputs would write the same output, or (unless ``overwrite``) an output
    exists already.
    """
    inputs = {}  # (device, inode) of each input: what os.path.samefile compares
    for path in images:
        st = os.stat(path)
        inputs[(st.st_dev, st.st_ino)] = path
    names, writer, existing = [], {}, []
    for path in images:
        name = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
        for output in (name + '.png', name + '_overlay.png'):
            key = os.path.normcase(os.path.abspath(output))
            if key in writer:
                raise ValueError('%s and %s would both write %s; segment them into different --out '
                                 'directories' % (writer[key], path, output))
            writer[key] = path
            if os.path.exists(output):
                st = os.stat(output)
                if (st.st_dev, st.st_ino) in inputs:
                    raise ValueError('%s would overwrite the input %s; choose another --out'
                                     % (output, inputs[(st.st_dev, st.st_ino)]))
                existing.append(output)
        names.append(name)
    if existing and not overwrite:
        raise ValueError('%d output file(s) exist already (%s%s); add --overwrite to replace them, or choose '
                         'another --out' % (len(existing), ', '.join(existing[:3]), ', ...' if existing[3:] else ''))
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('images', nargs='+', metavar='IMAGE_OR_DIR')
    parser.add_argument('--model', metavar='RUN', help='a run directory of fcn train or its model.json')
    parser.add_argument('--deploy', help='deploy prototxt (an Input layer), with --weights')
    parser.add_argument('--weights', help='trained caffemodel, with --deploy')
    parser.add_argument('--mean', nargs=3, type=float, metavar=('B', 'G', 'R'),
                        help="mean pixel subtracted from the input (default: the card's, else PASCAL VOC's)")
    parser.add_argument('--palette', help="'voc' or a number of classes (default: the card's, else 'voc')")
    parser.add_argument('--score', help="score blob (default: the card's, else the net's single output)")
    parser.add_argument('--out', default='predictions', help='output directory')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace label PNGs and overlays that exist in --out (never an input image)')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    parser.add_argument('--batch', type=int, default=1, metavar='N',
                        help='images of one size per forward pass (default 1)')
    device = parser.add_mutually_exclusive_group()
    device.add_argument('--gpu', type=int, metavar='ID', help='run on this GPU')
    device.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N' (default cpu)")
    backend.add_argument(parser)
    args = parser.parse_args(argv)
    if args.model and (args.deploy or args.weights):
        parser.error('give --model or --deploy and --weights, not both')
    if not args.model and not (args.deploy and args.weights):
        parser.error('give --model RUN, or --deploy and --weights')
    if args.batch < 1:
        parser.error('--batch must be at least 1')
    if args.gpu is not None:
        args.device = 'cuda:%d' % args.gpu
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        images = list(dict.fromkeys(find_images(args.images)))  # a file named twice runs once
    except FileNotFoundError as e:
        parser.error(str(e))
    if not images:
        parser.error('no images (%s) in %s' % (' '.join(EXTENSIONS), ' '.join(args.images)))
    try:
        segment(args, images, plan_outputs(images, args.out, args.overwrite))
    except (CardError, FileNotFoundError, ValueError) as e:
        sys.exit('infer: %s' % e)


def segment(args, images, names):
    """Label ``images`` with the model of ``args``, writing <name>.png and <name>_overlay.png."""
    palette = args.palette or (None if args.model else 'voc')
    options = dict(mean=args.mean, palette=palette, score=args.score, device=args.device,
                   backend=args.backend)
    if args.model:
        model = fcn.load(args.model, **options)
    else:
        model = fcn.load(args.deploy, args.weights, **options)
    os.makedirs(args.out, exist_ok=True)
    done = 0
    start = time.time()
    for indices, rgb, scores in model.batches(images, args.batch):
        for i, image, s in zip(indices, rgb, scores):
            label = model.labels(s)
            model.save_label(names[i] + '.png', label)
            Image.fromarray(model.overlay(image, label, args.alpha)).save(names[i] + '_overlay.png')
        seconds = (time.time() - start) / len(indices)  # the pass, its reading and writing, per image
        for i, image in zip(indices, rgb):
            done += 1
            print('[%d/%d] %s -> %s.png (%dx%d, %.2f s)' % (done, len(images), images[i], names[i],
                                                            image.shape[1], image.shape[0], seconds),
                  flush=True)
        start = time.time()


if __name__ == '__main__':
    main()
