"""`python -m scenelens …`: the same program as the `scenelens` command and `python main.py` in a checkout."""
import sys

from scenelens.cli import main

if __name__ == "__main__":
    sys.exit(main())
