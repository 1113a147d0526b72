"""Enqueue N tasks with no worker running: a share of them with a priority, so they
land in kombu's priority lists (`celery\x06\x163`, ...) rather than the bare list."""
import sys

from tasks import add

n, with_priority = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    if i < with_priority:
        add.apply_async((i, i), priority=(3, 6, 9)[i % 3])
    else:
        add.apply_async((i, i))
add.apply_async((0, 0), queue="reports")
