################################################################################
# Alarms, and an optional SNS topic that emails them
################################################################################

resource "aws_sns_topic" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  name = "${local.name}-alarms"

  #checkov:skip=CKV_AWS_26:Alarm notifications carry no sensitive data, and CloudWatch cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns; a customer-managed key would be needed only for that.
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = aws_sns_topic.alarms[*].arn

  # The queue metrics the metrics function publishes (metrics.tf), on every engine version.
  queue_metrics = {
    for queue in local.monitored_queues : queue => {
      namespace  = var.metrics_namespace
      dimensions = { VirtualHost = var.virtual_host, Queue = queue }
    }
  }
}

# Any failed invocation: Lambda retries the whole batch, so errors mean redeliveries.
resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name        = "${local.name}-consumer-errors"
  alarm_description = "Lambda function ${aws_lambda_function.this.function_name} failed an invocation; Lambda delivers the whole batch again. See log group ${aws_cloudwatch_log_group.this.name}."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.this.function_name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# Messages the handler rejected.
resource "aws_cloudwatch_metric_alarm" "dead_letter_queue_not_empty" {
  alarm_name        = "${local.name}-dead-letters-not-empty"
  alarm_description = "SQS queue ${aws_sqs_queue.dead_letter.name} holds messages the handler rejected, each with its reason."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = aws_sqs_queue.dead_letter.name
  }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# The three queue alarms below read the metrics function's metrics. Missing data breaches: a
# queue metric that stops arriving means the monitor is blind, and a blind monitor must alarm.

# Messages past the delivery limit, moved by the broker to <queue>.dlq (declared by the
# bootstrap, bootstrap.tf).
resource "aws_cloudwatch_metric_alarm" "broker_dead_letter_queue_not_empty" {
  alarm_name        = "${local.name}-broker-dlq-not-empty"
  alarm_description = "Queue ${var.queue_name}.dlq on broker ${aws_mq_broker.this.broker_name} holds messages that failed ${var.delivery_limit} deliveries (the function crashed or timed out on them), or its metrics stopped arriving (see Lambda function ${local.name}-metrics)."

  namespace           = local.queue_metrics["${var.queue_name}.dlq"].namespace
  metric_name         = "MessagesReady"
  dimensions          = local.queue_metrics["${var.queue_name}.dlq"].dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# The consumer falls behind.
resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  alarm_name        = "${local.name}-queue-backlog"
  alarm_description = "Queue ${var.queue_name} on broker ${aws_mq_broker.this.broker_name} has held more than ${var.backlog_alarm_threshold} ready messages for 15 minutes, or its metrics stopped arriving (see Lambda function ${local.name}-metrics)."

  namespace           = local.queue_metrics[var.queue_name].namespace
  metric_name         = "MessagesReady"
  dimensions          = local.queue_metrics[var.queue_name].dimensions
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.backlog_alarm_threshold
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# No consumer on the work queue: the mapping's poller is gone, a direct signal whatever the
# traffic (its state then tells why, e.g. EVENT_SOURCE_AUTHN_ERROR after a password change).
resource "aws_cloudwatch_metric_alarm" "poller_stopped" {
  count = var.create_poller_stopped_alarm && var.event_source_mapping_enabled ? 1 : 0

  alarm_name        = "${local.name}-poller-stopped"
  alarm_description = "Queue ${var.queue_name} has had no consumer for 10 minutes, or its metrics stopped arriving: check the event source mapping's State and StateTransitionReason (Lambda function ${aws_lambda_function.this.function_name})."

  namespace           = local.queue_metrics[var.queue_name].namespace
  metric_name         = "Consumers"
  dimensions          = local.queue_metrics[var.queue_name].dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# The monitor itself: it failed, or it did not run (a silent monitor must alarm).
resource "aws_cloudwatch_metric_alarm" "metrics_function_failing" {
  alarm_name        = "${local.name}-metrics-failing"
  alarm_description = "Lambda function ${local.name}-metrics failed or did not run in the last 5 minutes, so the queue alarms are blind. See log group ${aws_cloudwatch_log_group.admin["metrics"].name}."

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.admin["metrics"].function_name }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions  = { FunctionName = aws_lambda_function.admin["metrics"].function_name }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id          = "failing"
    expression  = "IF(FILL(errors, 0) > 0 OR FILL(invocations, 0) == 0, 1, 0)"
    label       = "Errors, or no invocation"
    return_data = true
  }

  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# A failed rotation leaves the previous credentials in place (nothing breaks), but the next
# attempt needs a person.
resource "aws_cloudwatch_metric_alarm" "rotation_errors" {
  count = local.rotation_enabled ? 1 : 0

  alarm_name        = "${local.name}-rotation-errors"
  alarm_description = "Lambda function ${local.name}-rotation failed a rotation step; the secret's current credentials still work. See log group ${aws_cloudwatch_log_group.admin["rotation"].name} and docs/security.md."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.admin["rotation"].function_name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# Every alarm of this deployment: the alarm_names output and the dashboard's alarm widget.
locals {
  alarms = concat(
    [
      aws_cloudwatch_metric_alarm.lambda_errors,
      aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty,
      aws_cloudwatch_metric_alarm.broker_dead_letter_queue_not_empty,
      aws_cloudwatch_metric_alarm.queue_backlog,
      aws_cloudwatch_metric_alarm.metrics_function_failing,
    ],
    aws_cloudwatch_metric_alarm.poller_stopped,
    aws_cloudwatch_metric_alarm.rotation_errors,
  )
}
