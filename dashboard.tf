################################################################################
# The CloudWatch dashboard: the queue, the function, the dead letters and the alarms at a glance
################################################################################

# Body syntax: CloudWatch API Reference, "Dashboard Body Structure and Syntax"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html).
# A 24-column grid, three rows of three widgets; docs/dashboard.svg is drawn from this body
# (tests/terraform/test_terraform.py checks that it still is).
locals {
  queue_dimensions = ["VirtualHost", var.virtual_host, "Queue", var.queue_name]
  dlq_dimensions   = ["VirtualHost", var.virtual_host, "Queue", "${var.queue_name}.dlq"]
  consumer         = ["FunctionName", aws_lambda_function.this.function_name]
  # The handler's Powertools metrics: its service, and the queue and vhost of each batch.
  powertools = ["service", var.service_name, "Queue", var.queue_name, "VirtualHost", var.virtual_host]

  dashboard_widgets = [
    # Row 1: the work queue, from the metrics function.
    {
      title = "Queue ${var.queue_name}: messages"
      metrics = [
        concat([var.metrics_namespace, "MessagesReady"], local.queue_dimensions, [{ label = "Ready", stat = "Maximum" }]),
        concat([var.metrics_namespace, "MessagesUnacknowledged"], local.queue_dimensions, [{ label = "Unacknowledged", stat = "Maximum" }]),
      ]
    },
    {
      title = "Queue ${var.queue_name}: rates (messages/s)"
      metrics = [
        concat([var.metrics_namespace, "PublishRate"], local.queue_dimensions, [{ label = "Published", stat = "Average" }]),
        concat([var.metrics_namespace, "DeliverRate"], local.queue_dimensions, [{ label = "Delivered", stat = "Average" }]),
      ]
    },
    {
      title = "Queue ${var.queue_name}: consumers (the mapping's poller)"
      metrics = [
        concat([var.metrics_namespace, "Consumers"], local.queue_dimensions, [{ label = "Consumers", stat = "Minimum" }]),
      ]
    },
    # Row 2: the consumer function, from Lambda and from Powertools.
    {
      title = "Function: invocations and errors"
      metrics = [
        concat(["AWS/Lambda", "Invocations"], local.consumer, [{ label = "Invocations", stat = "Sum" }]),
        concat(["AWS/Lambda", "Errors"], local.consumer, [{ label = "Errors", stat = "Sum" }]),
      ]
    },
    {
      title = "Function: duration (ms)"
      metrics = [
        concat(["AWS/Lambda", "Duration"], local.consumer, [{ label = "Average", stat = "Average" }]),
        concat(["AWS/Lambda", "Duration"], local.consumer, [{ label = "Maximum", stat = "Maximum" }]),
      ]
    },
    {
      title = "Function: messages per batch"
      metrics = [
        concat([var.metrics_namespace, "BatchSize"], local.powertools, [{ label = "Batch size (average)", stat = "Average" }]),
        concat([var.metrics_namespace, "Processed"], local.powertools, [{ label = "Processed", stat = "Sum" }]),
        concat([var.metrics_namespace, "DeadLettered"], local.powertools, [{ label = "Dead-lettered", stat = "Sum" }]),
      ]
    },
    # Row 3: where failed messages go.
    {
      title = "Broker dead-letter queue ${var.queue_name}.dlq"
      metrics = [
        concat([var.metrics_namespace, "MessagesReady"], local.dlq_dimensions, [{ label = "Past the delivery limit", stat = "Maximum" }]),
      ]
    },
    {
      title = "SQS dead letters (rejected by the handler)"
      metrics = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letter.name, { label = "Waiting", stat = "Maximum" }],
      ]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name

  dashboard_body = jsonencode({
    widgets = concat(
      [
        for index, widget in local.dashboard_widgets : {
          type   = "metric"
          x      = (index % 3) * 8
          y      = floor(index / 3) * 6
          width  = 8
          height = 6
          properties = {
            title   = widget.title
            metrics = widget.metrics
            region  = var.region
            period  = 60
            view    = "timeSeries"
          }
        }
      ],
      [
        {
          type   = "alarm"
          x      = 16
          y      = 12
          width  = 8
          height = 6
          properties = {
            title  = "Alarms"
            alarms = local.alarms[*].arn
          }
        },
      ],
    )
  })
}
