"""Command-line tools run by an operator (`intacct-sync ops|doctor|rules|webhooks|stock`), never by a
deployed function. `main.py` is the `intacct-sync` command and what every command shares: one-line
errors with their fix, --region, --debug, progress."""
