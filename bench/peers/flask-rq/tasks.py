"""bench/peers/flask-rq/tasks.py: the no-op job of the peer, like hangtight's
built-in "echo": the result is the payload."""


def echo(payload):
    return payload
