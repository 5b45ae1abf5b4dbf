"""The two kinds of failure the batch policy tells apart.

Lambda retries the whole batch when an invocation fails, and RabbitMQ mappings have no
partial-batch response, so each failure must say whether a retry can ever help.
"""


class InvalidMessage(Exception):
    """This message can never succeed: dead-letter it and carry on with the batch.

    Raised while decoding (bad base64, invalid JSON) and by business logic (failed
    validation). The message text is the reason recorded with the dead letter.
    """


class RetryableError(Exception):
    """A temporary failure (a dependency down, a throttle): fail the invocation so Lambda
    delivers the whole batch again. Any exception that is not `InvalidMessage` is treated
    the same way; raise this one to say so explicitly.
    """


class DeadLetterError(RetryableError):
    """The dead-letter sink could not store a rejected message; retrying may succeed."""
