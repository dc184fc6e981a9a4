"""What every package of the project shares and nothing else: where the
project lives and how a bad setting is reported."""
