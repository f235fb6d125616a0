import sys

from alslm_ml.cli import run_command
from alslm_ml.train import main

sys.exit(run_command("python -m alslm_ml.train", main, sys.argv[1:]))
