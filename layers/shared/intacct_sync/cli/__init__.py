"""Command-line tools run by an operator (webhook registration, ...), never by a deployed function."""
