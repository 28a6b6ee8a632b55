"""The CLI's command groups beside scan and check (scanner/cli.py): each module registers its
commands on the one typer app when cli.py imports it."""
