"""``python -m integration_health`` runs the CLI."""

from integration_health.cli.app import main

if __name__ == "__main__":
    main()
