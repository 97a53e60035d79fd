"""The jmqa web chat: `python app.py [--host 127.0.0.1] [--port 7860] [--auth USER:PASSWORD]` (same as `jmqa serve`)."""

import sys

from jmqa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
