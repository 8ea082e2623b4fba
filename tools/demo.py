"""The CPU demo: DAL against an untrained backbone and a supervised engine (the ``dal-demo`` command; see :mod:`dal_torchreid.cli.demo`)."""
import sys

from dal_torchreid.cli.demo import main

if __name__ == '__main__':
    sys.exit(main())
