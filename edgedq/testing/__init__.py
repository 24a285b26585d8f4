"""Test harnesses that the test suite and ``make bench`` share (like ``click.testing``): a throwaway sshd."""
