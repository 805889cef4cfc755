"""Readers for FCN's five segmentation datasets in their real on-disk layouts.

A reader is one split of one dataset: its ids, in split-file order, and how to
load the arrays of an id for a list of tops. Inputs come out as Caffe expects
them (float32, BGR, per-dataset mean subtracted, C x H x W, no scaling), labels
as 1 x H x W uint8 class indices with 255 for void. Every failure is a
DataError naming the file or directory and the README that says how to
prepare the data. Nothing here imports Caffe: layers.py wraps readers as
Python layers, and fcn prepare (prepare.py) uses them directly. Folder reads
a user's own images and masks (fcn train).
"""
import os

import numpy as np
import scipy.io
from PIL import Image

from fcn import REPO

VOID = 255

# BGR means, from the original FCN layers.
VOC_MEAN = (104.00699, 116.66877, 122.67892)
CONTEXT_MEAN = (104.007, 116.669, 122.679)
NYUD_MEAN = (116.190, 97.203, 92.318)
NYUD_HHA_MEAN = (132.431, 94.076, 118.477)  # in the file's channel order (not flipped)
NYUD_LOG_DEPTH_MEAN = 7.844
SIFTFLOW_MEAN = (114.578, 115.294, 108.353)

# PASCAL-Context: names the 59-class list uses for three classes of labels.txt.
CONTEXT_RENAMES = {'diningtable': 'table', 'bedcloth': 'bedclothes', 'clothes': 'cloth'}
MAX_CONTEXT_INDEX = 2 ** 16 - 1  # its label maps are 16-bit


class DataError(RuntimeError):
    """A dataset file or directory is missing or malformed."""


def data_root():
    """Where relative dataset paths start: $FCN_DATA_ROOT, else data/ beside this file."""
    return os.environ.get('FCN_DATA_ROOT') or os.path.join(REPO, 'data')


def resolve(path):
    """A dataset path: absolute as given, relative against the data root."""
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.join(data_root(), path)


def read_ids(path):
    """The ids of a split file (or names of a class list), one a line, blank lines skipped."""
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def save_label_png(label, path):
    """Class indices (H x W, 0-255) as a PNG with VOC's palette, the format of SegmentationClass."""
    from fcn.vis import save_label  # vis draws with this module's VOID: imported on use
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    save_label(path, label)


def size(array):
    """'HxW' of a C x H x W array (its axes after the first, however many)."""
    return 'x'.join(str(d) for d in np.shape(array)[1:])


def read_label_list(path):
    """The (index, name) pairs of a PASCAL-Context list ('12: bamboo weaving'); names lose their spaces."""
    pairs = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            index, sep, name = line.partition(':')
            if not sep or not index.strip().isdigit() or not name.strip():
                raise DataError("%s:%d: expected 'index: name', got %r" % (path, number, line.rstrip('\n')))
            pairs.append((int(index), name.strip().replace(' ', '')))
    return pairs


def context_lut(labels, labels_59, labels_path='labels.txt'):
    """Lookup table from PASCAL-Context label indices to the 59-class task (1-59, everything else 0)."""
    index = {name: k for k, name in labels}
    top = max(index.values())
    if top > MAX_CONTEXT_INDEX:  # the table has one entry per index up to the largest
        raise DataError('%s: index %d is larger than a label map holds (at most %d; the dataset has 459)'
                        % (labels_path, top, MAX_CONTEXT_INDEX))
    lut = np.zeros(top + 1, np.uint8)
    for task_class, (_, name) in enumerate(labels_59, 1):
        full = CONTEXT_RENAMES.get(name, name)
        if full not in index:
            raise DataError("59-class label '%s' (as '%s') is not in %s" % (name, full, labels_path))
        lut[index[full]] = task_class
    return lut


class Dataset:
    """One split of a dataset; subclasses fill ``sources``: top -> (directory, file template, loader)."""

    name = ''          # the dataset, for messages
    readme = ''        # data/<dataset>/README.md, named in every error
    tops = ('data', 'label')
    default_means = {'data': VOC_MEAN}  # per input; the first is the RGB image
    label_classes = {}  # label tops and their numbers of classes; the other tops are inputs
    background = None   # the background class, where the classes have one

    def __init__(self, split_file, mean=None):
        self.means = self.parse_means(mean)
        self.mean = self.means[next(iter(self.default_means))]
        self.split_file = split_file
        self.ids = self.read_split(split_file)

    def parse_means(self, mean):
        """Means per input from ``mean``: a tuple for the image, or a dict naming inputs."""
        given = mean if isinstance(mean, dict) else {} if mean is None else {next(iter(self.default_means)): mean}
        unknown = sorted(set(given) - set(self.default_means))
        if unknown:
            raise ValueError('%s mean names unknown inputs %s (inputs with a mean: %s)'
                             % (self.name, unknown, ', '.join(self.default_means)))
        means = {}
        for top, default in self.default_means.items():
            try:
                value = np.array(given.get(top, default), np.float32).reshape(-1)
            except (TypeError, ValueError):
                value = None
            if value is None or value.shape != (len(default),) or not np.isfinite(value).all():
                raise ValueError('%s mean of %s must be %d finite number(s), got %r'
                                 % (self.name, top, len(default), given.get(top)))
            means[top] = value
        return means

    # -- errors and files -------------------------------------------------
    def fail(self, message):
        return DataError('%s: %s (see %s for how to prepare it)'
                         % (self.name, message, os.path.join(REPO, self.readme)))

    def directory(self, path, what='dataset directory'):
        path = resolve(path)
        if not os.path.isdir(path):
            raise self.fail('%s %s not found' % (what, path))
        return path

    def read_split(self, path):
        if not os.path.isfile(path):
            here = sorted(f[:-4] for f in os.listdir(os.path.dirname(path)) if f.endswith('.txt')) \
                if os.path.isdir(os.path.dirname(path)) else []
            raise self.fail('split file %s not found (splits there: %s)' % (path, ', '.join(here) or 'none'))
        ids = read_ids(path)
        if not ids:
            raise self.fail('split file %s is empty' % path)
        return ids

    def read_image(self, path, what, mode=None, modes=None, expected=None):
        """An image file as an array, converted to ``mode``; DataError names ``path`` when missing,
        corrupt or not one of ``modes`` (``expected`` says what it should be instead)."""
        try:
            with Image.open(path) as im:
                if modes and im.mode not in modes:
                    raise self.fail('%s %s is a %s image, %s' % (what, path, im.mode,
                                                                 expected or 'expected ' + ' or '.join(modes)))
                return np.asarray(im.convert(mode) if mode else im)
        except FileNotFoundError:
            raise self.fail('missing %s %s' % (what, path)) from None
        except Image.DecompressionBombError as e:  # Pillow's guard against huge images names no file
            raise self.fail('%s %s is too large: %s' % (what, path, e)) from None
        except (OSError, SyntaxError, ValueError) as e:
            raise self.fail('cannot read %s %s (corrupt?): %s' % (what, path, e)) from e

    def read_mat(self, path, key, what='label'):
        """Variable ``key`` of a MATLAB file; missing or corrupt files raise DataError naming ``path``."""
        if not os.path.isfile(path):
            raise self.fail('missing %s %s' % (what, path))
        try:
            mat = scipy.io.loadmat(path)
        except Exception as e:  # scipy raises many types on a damaged file
            raise self.fail('cannot read %s %s (corrupt?): %s' % (what, path, e)) from e
        if key not in mat:
            raise self.fail('%s %s has no variable %s' % (what, path, key))
        return mat[key]

    # -- loading ----------------------------------------------------------
    def check_tops(self, tops):
        unknown = [t for t in tops if t not in self.sources]
        if unknown or not tops:
            raise ValueError('%s tops must be a non-empty list from %s, got %r'
                             % (self.name, ', '.join(self.sources), list(tops)))

    def load(self, id_, tops):
        """The arrays of ``id_`` for ``tops``, checked to share one height and width."""
        arrays, paths = [], []
        for top in tops:
            directory, template, loader = self.sources[top]
            # a template is a pattern such as '%s.jpg', or a function of the id (file names vary)
            paths.append(os.path.join(directory, template(id_) if callable(template) else template % id_))
            arrays.append(loader(paths[-1]))
        for array, path in zip(arrays[1:], paths[1:]):
            if array.shape[1:] != arrays[0].shape[1:]:
                raise self.fail('size mismatch: %s is %s but %s is %s'
                                % (paths[0], size(arrays[0]), path, size(array)))
        return arrays

    def image(self, path):
        """An RGB image file as Caffe input: BGR, mean subtracted, C x H x W."""
        rgb = self.read_image(path, 'image', 'RGB').astype(np.float32)
        bgr = rgb[:, :, ::-1] - self.mean
        return np.ascontiguousarray(bgr.transpose(2, 0, 1))

    def label_map(self, raw, path):
        """``raw`` as a 2-d int64 array, else DataError naming ``path`` and the shape."""
        raw = np.asarray(raw)
        if raw.ndim != 2:
            raise self.fail('label %s is not a 2-d map (shape %s)' % (path, raw.shape))
        return raw.astype(np.int64)

    def label(self, raw, path, num_classes, void=()):
        """``raw`` 1-based labels (the ``void`` values and 0 are void) as 0-based uint8, void 255."""
        raw = self.label_map(raw, path)
        bad = (raw < 0) | (raw > num_classes)
        bad[np.isin(raw, void)] = False
        if bad.any():
            raise self.fail('label %s has value %d, outside the classes 1-%d and void (0%s)'
                            % (path, raw[bad][0], num_classes, ''.join(', %d' % v for v in void)))
        out = (raw - 1).astype(np.uint8)  # 0 and -1 wrap past 255 ...
        out[(raw <= 0) | np.isin(raw, void)] = VOID  # ... so set void explicitly
        return out[np.newaxis]

    def check_classes(self, label, path, num_classes):
        """``label`` with classes 0..num_classes-1 and 255, else DataError naming the value."""
        label = np.asarray(label).astype(np.int64)
        bad = ((label < 0) | (label >= num_classes)) & (label != VOID)
        if bad.any():
            raise self.fail('label %s has value %d, outside the classes 0-%d and void (255)'
                            % (path, label[bad][0], num_classes - 1))
        return label.astype(np.uint8)[np.newaxis]


class VOC(Dataset):
    """PASCAL VOC segmentation: JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette indices)."""

    name, readme = 'PASCAL VOC', 'data/pascal/README.md'
    num_classes = 21
    label_classes, background = {'label': num_classes}, 0

    def __init__(self, voc_dir, split, mean=None):
        root = self.directory(voc_dir)
        super().__init__(os.path.join(root, 'ImageSets', 'Segmentation', split + '.txt'), mean)
        self.sources = {'data': (os.path.join(root, 'JPEGImages'), '%s.jpg', self.image),
                        'label': (os.path.join(root, 'SegmentationClass'), '%s.png', self.load_label)}

    def load_label(self, path):
        indices = self.read_image(path, 'label', modes=('P', 'L'))  # a palette PNG of class indices
        return self.check_classes(indices, path, self.num_classes)


class SBD(Dataset):
    """Semantic Boundaries Dataset: img/<id>.jpg, cls/<id>.mat (GTcls.Segmentation), <split>.txt."""

    name, readme = 'SBD', 'data/sbdd/README.md'
    num_classes = 21
    label_classes, background = {'label': num_classes}, 0

    def __init__(self, sbdd_dir, split, mean=None):
        root = self.directory(sbdd_dir)
        super().__init__(os.path.join(root, split + '.txt'), mean)
        self.sources = {'data': (os.path.join(root, 'img'), '%s.jpg', self.image),
                        'label': (os.path.join(root, 'cls'), '%s.mat', self.load_label)}

    def load_label(self, path):
        gt = self.read_mat(path, 'GTcls')
        try:
            segmentation = gt['Segmentation'][0, 0]
        except (ValueError, IndexError, TypeError):
            raise self.fail('label %s: GTcls has no Segmentation field' % path) from None
        return self.check_classes(np.asarray(segmentation), path, self.num_classes)


class NYUD(Dataset):
    """NYUDv2 in Gupta et al.'s form: data/{images,depth,hha}/img_<id>.png, segmentation/img_<id>.mat."""

    name, readme = 'NYUDv2', 'data/nyud/README.md'
    tops = ('color', 'label')
    default_means = {'color': NYUD_MEAN, 'hha': NYUD_HHA_MEAN, 'depth': (NYUD_LOG_DEPTH_MEAN,)}
    num_classes = 40
    label_classes = {'label': num_classes}

    def __init__(self, nyud_dir, split, mean=None):
        root = self.directory(nyud_dir)
        super().__init__(os.path.join(root, split + '.txt'), mean)
        data = os.path.join(root, 'data')
        self.sources = {'color': (os.path.join(data, 'images'), 'img_%s.png', self.image),
                        'depth': (os.path.join(data, 'depth'), 'img_%s.png', self.load_depth),
                        'hha': (os.path.join(data, 'hha'), 'img_%s.png', self.load_hha),
                        'label': (os.path.join(root, 'segmentation'), 'img_%s.mat', self.load_label)}

    def load_depth(self, path):
        """Depth in millimetres as log depth minus its mean, 1 x H x W."""
        depth = self.read_image(path, 'depth image', modes=('I;16', 'I', 'L')).astype(np.float32)
        if (depth <= 0).any():  # log(0) would feed -inf to the net
            raise self.fail('depth %s has missing (zero) values; use the filled depth maps' % path)
        return (np.log(depth) - self.means['depth'])[np.newaxis]

    def load_hha(self, path):
        """HHA as stored (not flipped: the released HHA models take the file's order), minus its mean."""
        hha = self.read_image(path, 'HHA image', 'RGB').astype(np.float32)
        return np.ascontiguousarray((hha - self.means['hha']).transpose(2, 0, 1))

    def load_label(self, path):
        """40 classes 1-40 to 0-39; 0 (unlabeled) to 255."""
        return self.label(self.read_mat(path, 'segmentation'), path, self.num_classes)


class SIFTFlow(Dataset):
    """SIFT Flow: Images, SemanticLabels (S: 0 void, 1-33), GeoLabels (S: -1 void, 1-3)."""

    name, readme = 'SIFT Flow', 'data/sift-flow/README.md'
    tops = ('data', 'sem', 'geo')
    default_means = {'data': SIFTFLOW_MEAN}
    label_classes = {'sem': 33, 'geo': 3}
    subdir = 'spatial_envelope_256x256_static_8outdoorcategories'

    def __init__(self, siftflow_dir, split, mean=None):
        root = self.directory(siftflow_dir)
        super().__init__(os.path.join(root, split + '.txt'), mean)
        self.sources = {'data': (os.path.join(root, 'Images', self.subdir), '%s.jpg', self.image),
                        'sem': (os.path.join(root, 'SemanticLabels', self.subdir), '%s.mat', self.load_sem),
                        'geo': (os.path.join(root, 'GeoLabels', self.subdir), '%s.mat', self.load_geo)}

    def load_sem(self, path):
        return self.label(self.read_mat(path, 'S'), path, 33)

    def load_geo(self, path):
        return self.label(self.read_mat(path, 'S'), path, 3, void=(-1,))


class PASCALContext(Dataset):
    """PASCAL-Context: VOC2010 JPEGs, trainval/<id>.mat LabelMap mapped to 59 classes (+ background 0)."""

    name, readme = 'PASCAL-Context', 'data/pascal-context/README.md'
    default_means = {'data': CONTEXT_MEAN}
    label_classes, background = {'label': 60}, 0  # the 59 classes and background

    def __init__(self, context_dir, voc_dir, split, mean=None):
        context = self.directory(context_dir)
        voc = self.directory(voc_dir, 'VOC2010 directory')
        super().__init__(os.path.join(voc, 'ImageSets', 'Main', split + '.txt'), mean)
        lists = [os.path.join(context, f) for f in ('labels.txt', '59_labels.txt')]
        for path in lists:
            if not os.path.isfile(path):
                raise self.fail('missing label list %s' % path)
        try:
            self.lut = context_lut(*map(read_label_list, lists), labels_path=lists[0])
        except DataError as e:  # add the README pointer
            raise self.fail(str(e)) from None
        self.sources = {'data': (os.path.join(voc, 'JPEGImages'), '%s.jpg', self.image),
                        'label': (os.path.join(context, 'trainval'), '%s.mat', self.load_label)}

    def load_label(self, path):
        raw = self.label_map(self.read_mat(path, 'LabelMap'), path)
        bad = (raw < 0) | (raw >= len(self.lut))
        if bad.any():
            raise self.fail('label %s has value %d, not an index of labels.txt (0-%d)'
                            % (path, raw[bad][0], len(self.lut) - 1))
        return self.lut[raw][np.newaxis]


# -- your own data (fcn train) -------------------------------------------------

MASK_MODES = ('P', 'L')   # palette or grayscale PNGs hold class indices; RGB would hold colours
MAX_CLASSES = VOID        # mask values are bytes and 255 is void
SHOWN_PROBLEMS = 20       # a report lists this many problems, then counts the rest


def image_extensions():
    """The file extensions Pillow opens ('.jpg', '.png', ...)."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def folder_files(directory, extensions):
    """{stem: [file names]} of the files in ``directory`` whose extension (any case) is one of
    ``extensions``; hidden files and others are left out."""
    files = {}
    for name in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(name)
        if not name.startswith('.') and ext.lower() in extensions and os.path.isfile(os.path.join(directory, name)):
            files.setdefault(stem, []).append(name)
    return files


def problem_report(problems):
    """One DataError message for a list of problems, the first SHOWN_PROBLEMS in full."""
    if len(problems) == 1:
        return problems[0]
    shown = problems[:SHOWN_PROBLEMS]
    more = len(problems) - len(shown)
    return '%d problems in the data:\n  %s%s' % (len(problems), '\n  '.join(shown),
                                                   '\n  ... and %d more' % more if more else '')


class Folder(Dataset):
    """Your own data: ``images_dir/<stem>.<ext>`` (any format Pillow reads) and ``masks_dir/<stem>.png``.

    Masks are palette ('P') or grayscale ('L') PNGs whose values are class indices
    0..num_classes-1, 255 for pixels the loss and the scores ignore; an image and its
    mask share a size. ``split`` is a file listing the stems of the split (a relative
    path starts at the data root); None takes every stem that has both files.
    """

    name = 'image folder'

    def __init__(self, images_dir, masks_dir, num_classes, split=None, mean=None):
        if type(num_classes) is not int or not 2 <= num_classes <= MAX_CLASSES:
            raise ValueError('num_classes must be an integer from 2 to %d (mask values are bytes and 255 '
                             'means ignore), got %r' % (MAX_CLASSES, num_classes))
        self.num_classes = num_classes
        self.label_classes = {'label': num_classes}
        self.images_dir = self.directory(images_dir, 'images directory')
        self.masks_dir = self.directory(masks_dir, 'masks directory')
        self.images = folder_files(self.images_dir, image_extensions())
        if not self.images:
            raise self.fail('no images in %s (files Pillow reads: .jpg, .png, .bmp, .tif, ...)' % self.images_dir)
        self.masks = folder_files(self.masks_dir, image_extensions())
        if not self.masks:
            raise self.fail('no masks in %s (PNG files named as their images)' % self.masks_dir)
        super().__init__(split, mean)
        self.sources = {'data': (self.images_dir, self.image_file, self.image),
                        'label': (self.masks_dir, self.mask_file, self.load_mask)}

    def fail(self, message):
        return DataError(message)  # the messages name the files; no dataset README to point at

    def read_split(self, path):
        if path is not None:
            return super().read_split(resolve(path))
        return sorted(set(self.images) & set(self.masks))

    def pairing_problems(self):
        """Images without masks, masks without images, and stems with several files, by file name."""
        problems = []
        for stem, names in self.images.items():
            if stem not in self.masks:
                problems.append('image %s has no mask (expected %s)'
                                % (os.path.join(self.images_dir, names[0]), os.path.join(self.masks_dir, stem + '.png')))
        for stem, names in self.masks.items():
            if stem not in self.images:
                problems.append('mask %s has no image (no %s.* in %s)'
                                % (os.path.join(self.masks_dir, names[0]), stem, self.images_dir))
        for directory, files in ((self.images_dir, self.images), (self.masks_dir, self.masks)):
            problems += ['%s and %s share the stem %r: keep one' % (os.path.join(directory, names[0]),
                                                                    os.path.join(directory, names[1]), stem)
                         for stem, names in files.items() if len(names) > 1]
        return problems

    def image_file(self, stem):
        names = self.images.get(stem)
        if not names:
            raise self.fail('no image %s.* in %s' % (stem, self.images_dir))
        return names[0]

    def mask_file(self, stem):
        names = self.masks.get(stem)
        if not names:
            raise self.fail('no mask %s.png in %s' % (stem, self.masks_dir))
        return names[0]

    def read_mask(self, path):
        """A mask's class indices (H x W uint8); DataError naming ``path`` if it is not a PNG of indices."""
        if not path.lower().endswith('.png'):
            raise self.fail('mask %s is not a PNG: masks are PNGs of class indices (JPEG compression '
                            'would change the values)' % path)
        return self.read_image(path, 'mask', modes=MASK_MODES, expected=(
            "not class indices: save masks as palette ('P') or grayscale ('L') PNGs whose pixel values "
            "are the class numbers 0-%d (255: ignore)" % (self.num_classes - 1)))

    def value_counts(self, mask, path):
        """How many pixels hold each value 0-255; DataError naming ``path`` and the values past the classes."""
        counts = np.bincount(mask.ravel(), minlength=256)
        bad = [v for v in np.flatnonzero(counts) if self.num_classes <= v < VOID]
        if bad:
            raise self.fail('mask %s has value%s %s but there are %d classes (values 0-%d; 255: ignore)'
                            % (path, 's' if len(bad) > 1 else '', ', '.join(map(str, bad[:5])) +
                               (', ...' if len(bad) > 5 else ''), self.num_classes, self.num_classes - 1))
        return counts

    def load_mask(self, path):
        mask = self.read_mask(path)
        self.value_counts(mask, path)
        return mask[np.newaxis]

    def check(self, progress=None):
        """Read every pair of the split before training: each image's size (its header) and each
        mask whole. Returns ({stem: (height, width)}, pixel counts of the mask values 0-255);
        raises one DataError listing every problem, naming the files. ``progress(done, total)``
        is called after each pair."""
        problems = self.pairing_problems() if self.split_file is None else []
        sizes, counts = {}, np.zeros(256, np.int64)
        for i, stem in enumerate(self.ids):
            try:
                image = os.path.join(self.images_dir, self.image_file(stem))
                mask = os.path.join(self.masks_dir, self.mask_file(stem))
                try:
                    with Image.open(image) as im:
                        width, height = im.size
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
                    raise self.fail('cannot read image %s: %s' % (image, e)) from None
                values = self.read_mask(mask)
                if values.shape != (height, width):
                    raise self.fail('image %s is %dx%d but its mask %s is %dx%d (width x height)'
                                    % (image, width, height, mask, values.shape[1], values.shape[0]))
                counts += self.value_counts(values, mask)
                sizes[stem] = (height, width)
            except DataError as e:
                problems.append(str(e))
            if progress:
                progress(i + 1, len(self.ids))
        if problems:
            raise DataError(problem_report(problems))
        return sizes, counts
