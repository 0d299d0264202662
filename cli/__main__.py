"""`python -m cli` runs the pydocker command."""
import sys

from cli.main import main

sys.exit(main())
