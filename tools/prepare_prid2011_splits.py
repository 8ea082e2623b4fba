"""PRID2011 splits for torchreid: ``python -m dal_torchreid.cli.prepare_splits --dataset prid2011``."""
import sys

from dal_torchreid.cli.prepare_splits import main

if __name__ == '__main__':
    sys.exit(main(['--dataset', 'prid2011'] + sys.argv[1:]))
