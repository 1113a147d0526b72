"""Tiny Celery app for the exporter's celery tests. Broker from $BROKER_URL."""
import os

from celery import Celery

app = Celery("tasks", broker=os.environ["BROKER_URL"])
app.conf.update(
    task_send_sent_event=True,
    worker_send_task_events=True,
    broker_connection_retry_on_startup=True,
)


@app.task
def add(x, y):
    return x + y


@app.task
def boom():
    raise ValueError("boom")
