"""Segment images with a deploy net: label PNGs in a palette and overlays.

    python infer.py --deploy voc-fcn8s/deploy.prototxt \\
        --weights voc-fcn8s/fcn8s-heavy-pascal.caffemodel --out out/ image.jpg photos/

writes ``out/<name>.png`` (palette-mode label map: the pixels are class indices)
and ``out/<name>_overlay.png`` for each image. Works with any deploy net whose
single Input takes a BGR image; the input is reshaped to each image's size.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

from fcn import backend
from fcn import vis
from fcn.datasets import VOC_MEAN

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.tif', '.tiff')


def preprocess(image, mean):
    """An H x W x 3 RGB image as Caffe's 1 x 3 x H x W input: BGR, 0-255, mean subtracted."""
    bgr = np.asarray(image, np.float32)[:, :, ::-1] - np.asarray(mean, np.float32)
    return bgr.transpose(2, 0, 1)[None]


def score_blob(net, score=None):
    """The blob holding the class scores: ``score``, else the net's single output."""
    if score is not None:
        if score not in net.blobs:
            raise ValueError("the net has no blob '%s'" % score)
        return score
    if len(net.outputs) != 1:
        raise ValueError('the net has outputs %s: name the score blob' % ', '.join(net.outputs))
    return net.outputs[0]


def infer(net, image, mean=VOC_MEAN, score=None):
    """The H x W label map (argmax of the scores) of ``net`` on an H x W x 3 RGB image."""
    if len(net.inputs) != 1:
        raise ValueError('infer needs a net with one input, not %s' % ', '.join(net.inputs))
    data = net.blobs[net.inputs[0]]
    if data.data.ndim != 4 or data.data.shape[1] != 3:
        raise ValueError("input '%s' of shape %s does not take a 3-channel image"
                         % (net.inputs[0], data.data.shape))
    x = preprocess(image, mean)
    data.reshape(*x.shape)
    data.data[...] = x
    net.forward()
    score = score_blob(net, score)
    scores = net.blobs[score].data[0]
    if scores.shape[1:] != x.shape[2:]:
        raise ValueError("scores '%s' of size %s for an image of size %s: name the score blob "
                         'cropped to the input' % (score, scores.shape[1:], x.shape[2:]))
    return scores.argmax(0)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('images', nargs='+', metavar='IMAGE_OR_DIR')
    parser.add_argument('--deploy', required=True, help='deploy prototxt (an Input layer)')
    parser.add_argument('--weights', required=True, help='trained caffemodel')
    parser.add_argument('--mean', nargs=3, type=float, default=VOC_MEAN, metavar=('B', 'G', 'R'),
                        help='mean pixel subtracted from the input (default: PASCAL VOC\'s)')
    parser.add_argument('--palette', default='voc', help="'voc' or a number of classes")
    parser.add_argument('--score', help='score blob (default: the net\'s single output)')
    parser.add_argument('--out', default='predictions', help='output directory')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    parser.add_argument('--gpu', type=int, metavar='ID', help='run on this GPU')
    backend.add_argument(parser)
    args = parser.parse_args(argv)
    try:
        palette = vis.get_palette(args.palette)
        images = find_images(args.images)
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    caffe = backend.load(args.backend)
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    net = caffe.Net(args.deploy, args.weights, caffe.TEST)
    os.makedirs(args.out, exist_ok=True)
    # VOC's background (0) stays unpainted; other datasets have no background class.
    skip = (0, vis.VOID) if str(args.palette).lower() == 'voc' else (vis.VOID,)
    for i, path in enumerate(images, 1):
        start = time.time()
        name = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0])
        if os.path.abspath(name + '.png') == os.path.abspath(path):
            sys.exit('infer: %s.png would overwrite the input; choose another --out' % name)
        with Image.open(path) as im:
            image = np.array(im.convert('RGB'))
        label = infer(net, image, args.mean, args.score)
        vis.save_label(name + '.png', label, palette)
        Image.fromarray(vis.overlay(image, label, palette, args.alpha, skip)).save(name + '_overlay.png')
        height, width = label.shape
        print('[%d/%d] %s -> %s.png (%dx%d, %.2f s)'
              % (i, len(images), path, name, width, height, time.time() - start), flush=True)


if __name__ == '__main__':
    main()
