"""``python -m swiftk`` is the ``swiftk`` command (torchrun starts workers this way)."""

from swiftk.cli import main

if __name__ == "__main__":
    main()
