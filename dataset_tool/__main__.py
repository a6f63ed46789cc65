"""Command line: python dataset_tool.py <command> [positional args] [--flags].

User errors print one line `Error: <file>: <problem>` on stderr and exit with status 2; DATA_DIR is
never left half-written. Official spellings are accepted too: --max_images (underscores), --shuffle
0|1, --no-shuffle.
"""

import sys

from absl import flags

from dataset_tool import create, inspection
from dataset_tool.records import DatasetError

FLAGS = flags.FLAGS

USAGE = """usage: python dataset_tool.py <command> [args] [--flags]

Create (DATA_DIR must be empty or missing, or pass --overwrite):
  create_from_images   DATA_DIR IMAGE_DIR     png/jpg/bmp/webp/gif/tiff folder, recursive
  create_mnist         DATA_DIR MNIST_DIR     IDX .gz files, padded 28 -> 32 (--pad-to), one-hot
                                              labels
  create_fashion_mnist DATA_DIR [SOURCE_DIR]  as create_mnist; looks in --source,
                                              /usr/share/datasets/fashion-mnist,
                                              ~/.keras/datasets/fashion-mnist (--download: keras)
  create_cifar10       DATA_DIR CIFAR10_DIR   python batches folder or cifar-10-python.tar.gz,
                                              one-hot labels
  create_from_npz      DATA_DIR NPZ_FILE      arrays `images` (uint8 NHWC/NHW, RGBA on white) and
                                              `labels`
Inspect:
  info     DATA_DIR               resolution, channels, counts per level and shard, labels, bytes
  display  DATA_DIR [OUT_PNG]     grid PNG of the first images (--grid WxH, --resolution R)
  extract  DATA_DIR OUT_DIR       img%08d.png of one level (--resolution R) + dataset.json labels
  compare  DATA_DIR_A DATA_DIR_B  equal images (every level) and labels? exit 0 if equal, 1 if not

Create flags: --gpus N | --shards K (K parts per level, K a multiple of N), --encoding raw|png,
  --workers W, --shuffle/--no-shuffle, --seed 123, --max-images N, --resolution R (or WxH for
  center-crop-wide), --transform center-crop|center-crop-wide|resize, --resize-filter box|lanczos,
  --channels 1|3, --labels FILE (JSON/CSV) | --labels-from-dirs | --attributes FILE
  [--attribute-names a,b] (multi-hot: CSV or CelebA list_attr_celeba.txt), --ignore-errors,
  --pad-to 32, --split train|test, --ignore-labels, --overwrite
Run `python dataset_tool.py --helpfull` for every flag."""


def define_flags():
    if "encoding" in FLAGS:  # already defined (run() called twice in one process)
        return
    flags.DEFINE_integer(
        "gpus", None, "Split every level into this many parts (one or more per GPU)."
    )
    flags.DEFINE_integer("shards", None, "Number of parts per level (a multiple of --gpus).")
    flags.DEFINE_enum(
        "encoding", "raw", ["raw", "png"], "Record payload: raw CHW bytes (official) or PNG."
    )
    flags.DEFINE_boolean(
        "overwrite",
        False,
        "Replace a DATA_DIR that holds a dataset (never a folder of other files).",
    )
    flags.DEFINE_integer("workers", None, "Worker processes (default: the number of cores).")
    flags.DEFINE_boolean("shuffle", True, "Shuffle the image order with --seed (as NVIDIA's tool).")
    flags.DEFINE_integer("seed", 123, "Shuffle seed (NVIDIA's tool uses 123).")
    flags.DEFINE_integer("max-images", None, "Keep at most this many images (after shuffling).")
    flags.DEFINE_string(
        "resolution",
        None,
        "Output resolution R (or WxH for center-crop-wide); level for display/extract.",
    )
    flags.DEFINE_enum("transform", None, list(create.TRANSFORMS), "How to reach --resolution.")
    flags.DEFINE_enum(
        "resize-filter",
        "box",
        list(create.RESIZE_FILTERS),
        "Resampling filter (box for FID parity).",
    )
    flags.DEFINE_integer(
        "channels", None, "Convert every image to 1 (greyscale) or 3 (RGB) channels."
    )
    flags.DEFINE_string("labels", None, "JSON or CSV file mapping image file name to class.")
    flags.DEFINE_boolean("labels-from-dirs", False, "Class = first-level sub-folder name.")
    flags.DEFINE_string(
        "attributes",
        None,
        "Multi-hot attribute table: CSV `file,attr,...` or CelebA's list_attr_celeba.txt; "
        "values 0/1 or -1/1.",
    )
    flags.DEFINE_string(
        "attribute-names", None, "Comma-separated columns of --attributes to keep (default all)."
    )
    flags.DEFINE_boolean(
        "ignore-errors", False, "Skip unreadable or corrupt images (counted and reported)."
    )
    flags.DEFINE_integer("pad-to", 32, "Zero-pad MNIST-style 28x28 digits to this size.")
    flags.DEFINE_string("source", None, "Fashion-MNIST folder (instead of SOURCE_DIR).")
    flags.DEFINE_boolean(
        "download", False, "create_fashion_mnist: fetch the data with keras if not found."
    )
    flags.DEFINE_enum(
        "split", "train", ["train", "test"], "Which split of MNIST / Fashion-MNIST / CIFAR-10."
    )
    flags.DEFINE_boolean(
        "ignore-labels", False, "Write no labels (create_*) / do not compare labels (compare)."
    )
    flags.DEFINE_string("grid", None, "display: grid size WxH (default: up to 8x8).")


def _normalize(argv):
    """Official spellings -> ours: --max_images -> --max-images, --shuffle 0 -> --noshuffle,
    --no-shuffle."""
    known = set(FLAGS)
    booleans = {name for name in known if FLAGS[name].boolean}
    out, i = [argv[0]], 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            out.extend(argv[i - 1 :])
            break
        if not arg.startswith("--"):
            out.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        if name.replace("_", "-") in known:
            name = name.replace("_", "-")
        if name.startswith("no-") and name[3:].replace("_", "-") in booleans:
            name = "no" + name[3:].replace("_", "-")
        if name in booleans and not eq and i < len(argv) and argv[i] in ("0", "1"):
            eq, value = "=", argv[i]
            i += 1
        out.append(f"--{name}{eq}{value}")
    return out


def _parse_flags(argv):
    try:
        return FLAGS(_normalize(argv))
    except flags.Error as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(2)


def _create_kwargs():
    return {
        "gpus": FLAGS.gpus,
        "shards": FLAGS.shards,
        "encoding": FLAGS.encoding,
        "overwrite": FLAGS.overwrite,
        "workers": FLAGS.workers,
        "shuffle": FLAGS.shuffle,
        "seed": FLAGS.seed,
        "max_images": FLAGS["max-images"].value,
        "resolution": FLAGS.resolution,
        "transform": FLAGS.transform,
        "resize_filter": FLAGS["resize-filter"].value,
        "ignore_errors": FLAGS["ignore-errors"].value,
    }


def _cmd_create_from_images(data_dir, image_dir):
    create.create_from_images(
        data_dir,
        image_dir,
        channels=FLAGS.channels,
        labels=FLAGS.labels,
        labels_from_dirs=FLAGS["labels-from-dirs"].value,
        attributes=FLAGS.attributes,
        attribute_names=FLAGS["attribute-names"].value,
        **_create_kwargs(),
    )


def _cmd_create_mnist(data_dir, mnist_dir):
    create.create_mnist(
        data_dir, mnist_dir, pad_to=FLAGS["pad-to"].value, split=FLAGS.split, **_create_kwargs()
    )


def _cmd_create_fashion_mnist(data_dir, source=None):
    create.create_fashion_mnist(
        data_dir,
        source or FLAGS.source,
        download=FLAGS.download,
        pad_to=FLAGS["pad-to"].value,
        split=FLAGS.split,
        **_create_kwargs(),
    )


def _cmd_create_cifar10(data_dir, cifar10_dir):
    create.create_cifar10(
        data_dir,
        cifar10_dir,
        split=FLAGS.split,
        ignore_labels=FLAGS["ignore-labels"].value,
        **_create_kwargs(),
    )


def _cmd_create_from_npz(data_dir, npz_file):
    create.create_from_npz(
        data_dir,
        npz_file,
        ignore_labels=FLAGS["ignore-labels"].value,
        channels=FLAGS.channels,
        pad_to=FLAGS["pad-to"].value if FLAGS["pad-to"].present else None,
        **_create_kwargs(),
    )


def _cmd_info(data_dir):
    inspection.info(data_dir)


def _cmd_display(data_dir, out_png=None):
    inspection.display(data_dir, out_png, resolution=FLAGS.resolution, grid=FLAGS.grid)


def _cmd_extract(data_dir, out_dir):
    inspection.extract(
        data_dir, out_dir, resolution=FLAGS.resolution, max_images=FLAGS["max-images"].value
    )


def _cmd_compare(dir_a, dir_b):
    return 0 if inspection.compare(dir_a, dir_b, ignore_labels=FLAGS["ignore-labels"].value) else 1


COMMANDS = {  # name -> (function, required positional, optional positional)
    "create_from_images": (_cmd_create_from_images, 2, 0),
    "create_mnist": (_cmd_create_mnist, 2, 0),
    "create_fashion_mnist": (_cmd_create_fashion_mnist, 1, 1),
    "create_cifar10": (_cmd_create_cifar10, 2, 0),
    "create_from_npz": (_cmd_create_from_npz, 2, 0),
    "info": (_cmd_info, 1, 0),
    "display": (_cmd_display, 1, 1),
    "extract": (_cmd_extract, 2, 0),
    "compare": (_cmd_compare, 2, 0),
}


def main(argv):
    if len(argv) < 2 or argv[1] in ("help", "-h"):
        print(USAGE)
        return 0 if len(argv) >= 2 else 2
    command, args = argv[1], argv[2:]
    if command not in COMMANDS:
        print(
            f"Error: unknown command {command!r} (one of: {', '.join(COMMANDS)})", file=sys.stderr
        )
        return 2
    fn, required, optional = COMMANDS[command]
    if not required <= len(args) <= required + optional:
        print(
            f"Error: {command} takes {required}{f'-{required + optional}' if optional else ''} "
            f"positional arguments, got {len(args)}: {' '.join(args)} "
            "(see `python dataset_tool.py help`)",
            file=sys.stderr,
        )
        return 2
    try:
        return fn(*args) or 0
    except DatasetError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted; nothing was written.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `info ... | head`
        sys.stderr.close()
        return 0


def run():
    define_flags()
    from apps.quiet_start import quiet_tensorflow

    quiet_tensorflow("2")
    main_module = sys.modules["__main__"]
    if not getattr(main_module, "__doc__", None) or main_module.__doc__ == __doc__:
        main_module.__doc__ = USAGE  # what absl prints for --help
    from apps import cli  # the script's launcher: one --help behaviour for all commands

    cli.run_script(main, sys.modules[__name__], flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
