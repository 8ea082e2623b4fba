"""Write torchreid's person-split file of PRID2011 / iLIDS-VID (the ``dal-prepare-splits`` command; see :mod:`dal_torchreid.cli.prepare_splits`)."""
import sys

from dal_torchreid.cli.prepare_splits import main

if __name__ == '__main__':
    sys.exit(main())
