"""Consume Amazon MQ for RabbitMQ messages with AWS Lambda.

`handler.lambda_handler` is the Lambda entry point; `business_logic.process` is the one
function to replace with your own.
"""
