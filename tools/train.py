"""Train and/or evaluate DAL or torchreid's supervised video engines (the ``dal-train`` command; see :mod:`dal_torchreid.cli.train`)."""
import sys

from dal_torchreid.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
