"""PyInstaller's entry script: the bundle's `nodestudio` executable is the installed CLI.

A separate file because PyInstaller needs a script, and `nodestudio/cli.py` must stay a module
(its relative package imports and `main()` contract are what the console script uses too).
"""

import sys

from nodestudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
