"""Sends N `add` tasks spread over priorities 0-9, without any worker running."""
import sys

from tasks import add

n = int(sys.argv[1])
for i in range(n):
    add.apply_async((i, i), priority=i % 10)
