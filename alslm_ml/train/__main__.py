import sys

from alslm_ml.train import main

sys.exit(main())
