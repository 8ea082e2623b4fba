"""iLIDS-VID splits for torchreid: ``python -m dal_torchreid.cli.prepare_splits --dataset ilidsvid``."""
import sys

from dal_torchreid.cli.prepare_splits import main

if __name__ == '__main__':
    sys.exit(main(['--dataset', 'ilidsvid'] + sys.argv[1:]))
