"""Sends one task: `add`, `boom` (raises) or `unknown` (a name no worker has)."""
import sys

from tasks import add, app, boom

what = sys.argv[1]
if what == "add":
    add.delay(1, 1)
elif what == "boom":
    boom.delay()
else:
    app.send_task("tasks.not_registered")
