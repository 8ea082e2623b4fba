"""Speed of DAL relative to torchreid (the ``dal-benchmark`` command; see :mod:`dal_torchreid.benchmarks.speed`)."""
import sys

from dal_torchreid.benchmarks.speed import main

if __name__ == '__main__':
    sys.exit(main())
