"""Write a synthetic video re-id data set in a torchreid layout (the ``dal-make-synthetic`` command; see :mod:`dal_torchreid.cli.make_synthetic_data`)."""
import sys

from dal_torchreid.cli.make_synthetic_data import main

if __name__ == '__main__':
    sys.exit(main())
