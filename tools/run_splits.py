"""The 10-split protocol of PRID2011 and iLIDS-VID (the ``dal-run-splits`` command; see :mod:`dal_torchreid.cli.run_splits`)."""
import sys

from dal_torchreid.cli.run_splits import main

if __name__ == '__main__':
    sys.exit(main())
