"""The tests' own tiny Celery app: the broker comes from CELERY_BROKER_URL."""
import os

from celery import Celery

app = Celery("tasks", broker=os.environ["CELERY_BROKER_URL"])
app.conf.task_send_sent_event = True
app.conf.worker_send_task_events = True


@app.task
def add(x, y):
    return x + y


@app.task
def boom():
    raise ValueError("boom")
