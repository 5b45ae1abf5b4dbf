################################################################################
# Extra: queue metrics on every engine, the alarms and the dashboard.
# Off with enable_monitoring = false (no monitoring user, metrics function, alarm or dashboard).
################################################################################

# Amazon MQ publishes per-queue metrics (AWS/AmazonMQ) for RabbitMQ 3.x brokers only: "Amazon MQ
# will not vend RabbitMQ queue metrics for RabbitMQ 4 brokers through CloudWatch" (Amazon MQ
# guide, "RabbitMQ 4", https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/rabbitmq-4.html),
# which points to the management API instead, "at a frequency of one minute or longer".
# So the metrics function reads the work queue and its dead-letter queue from the management
# API as the monitoring user, and prints them as CloudWatch embedded metric format: CloudWatch
# Logs turns them into metrics in var.metrics_namespace with dimensions VirtualHost and Queue, on
# every engine version, without PutMetricData or a monitoring endpoint in the VPC. The alarms
# and the dashboard below read only these (and Lambda's and SQS's own metrics).

locals {
  monitoring = var.enable_monitoring

  # The queues the metrics function reads: the work queue (or each shard queue) and the broker's
  # dead-letter queue (named by rabbitmq_admin.topology). Comma-separated in QUEUES: variables.tf
  # refuses a comma in queue_name.
  monitored_queues = concat(local.consumed_queues, ["${var.queue_name}.dlq"])
  sharded          = var.shard_count > 1

  # What monitoring adds to the core: the monitoring user (bootstrap.tf) and the metrics
  # function among the admin functions.
  monitoring_user_secret = local.monitoring ? { monitoring = aws_secretsmanager_secret.monitoring[0].arn } : {}
  monitoring_bootstrap_environment = local.monitoring ? {
    MONITORING_SECRET_ARN = aws_secretsmanager_secret.monitoring[0].arn
    MONITORING_USERNAME   = var.monitoring_username
  } : {}
  metrics_function = local.monitoring ? {
    metrics = {
      description    = "Publishes the depth, consumers and rates of the work queue${local.sharded ? "s" : ""} and the dead-letter queue on Amazon MQ broker ${local.name}-broker as CloudWatch metrics, every minute"
      handler        = "rabbitmq_admin.metrics_handler.lambda_handler"
      timeout        = 50 # 10 s per request; retries of a broker not answering stop after 7 s in all
      secrets_policy = data.aws_iam_policy_document.metrics[0].json
      environment = {
        MANAGEMENT_URL        = local.management_url
        MONITORING_SECRET_ARN = aws_secretsmanager_secret.monitoring[0].arn
        VIRTUAL_HOST          = var.virtual_host
        QUEUES                = join(",", local.monitored_queues)
        METRICS_NAMESPACE     = var.metrics_namespace
      }
    }
  } : {}
}

# The monitoring user's credentials, written by the bootstrap (tag monitoring, no queue
# permissions).
resource "aws_secretsmanager_secret" "monitoring" {
  count = local.monitoring ? 1 : 0

  name_prefix             = "${local.name}-broker-monitoring-"
  description             = "Credentials of RabbitMQ user ${var.monitoring_username} or ${var.monitoring_username}_clone (tag monitoring, no queue permissions), for the queue-metrics function. Written by the bootstrap function${local.rotated_by}."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (credential_rotation.tf) unless credential_rotation_days is null.
}

# The metrics function's secret (its logs and network interfaces: bootstrap.tf).
data "aws_iam_policy_document" "metrics" {
  count = local.monitoring ? 1 : 0

  statement {
    sid       = "ReadMonitoringCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.monitoring[0].arn]
  }
}

resource "aws_cloudwatch_event_rule" "metrics" {
  count = local.monitoring ? 1 : 0

  name                = "${local.name}-queue-metrics"
  description         = "Runs Lambda function ${local.name}-metrics every minute"
  schedule_expression = "rate(1 minute)" # a value of 1 takes the singular unit (EventBridge rate expressions)
}

resource "aws_cloudwatch_event_target" "metrics" {
  count = local.monitoring ? 1 : 0

  rule = aws_cloudwatch_event_rule.metrics[0].name
  arn  = aws_lambda_function.admin["metrics"].arn

  # The monitoring user exists once the bootstrap ran.
  depends_on = [aws_lambda_invocation.bootstrap, aws_lambda_permission.metrics_schedule]
}

resource "aws_lambda_permission" "metrics_schedule" {
  count = local.monitoring ? 1 : 0

  statement_id  = "EventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.admin["metrics"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.metrics[0].arn
}

################################################################################
# Alarms, and an optional SNS topic that emails them
################################################################################

resource "aws_sns_topic" "alarms" {
  count = local.monitoring && var.alarm_email != null ? 1 : 0

  name = "${local.name}-alarms"

  #checkov:skip=CKV_AWS_26:Alarm notifications carry no sensitive data, and CloudWatch cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns; a customer-managed key would be needed only for that.
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = length(aws_sns_topic.alarms)

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = aws_sns_topic.alarms[*].arn

  # The queue metrics the metrics function publishes, on every engine version.
  queue_metrics = {
    for queue in local.monitored_queues : queue => {
      namespace  = var.metrics_namespace
      dimensions = { VirtualHost = var.virtual_host, Queue = queue }
    }
  }
}

# Any failed invocation: Lambda retries the whole batch, so errors mean redeliveries.
resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  count = local.monitoring ? 1 : 0

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
  count = local.monitoring ? 1 : 0

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
  count = local.monitoring ? 1 : 0

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

# The consumer falls behind. With shards, on their total: metric math over each shard's metric (an
# alarm reads at most 10 metrics, PutMetricAlarm: shard_count's bound); the sum of the shards'
# minimums, a little below the minimum of the sum, so it fires no earlier than one queue would.
resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  count = local.monitoring ? 1 : 0

  alarm_name        = "${local.name}-queue-backlog"
  alarm_description = "${local.sharded ? "The ${var.shard_count} shard queues of ${var.queue_name}" : "Queue ${var.queue_name}"} on broker ${aws_mq_broker.this.broker_name} ${local.sharded ? "have held more than ${var.backlog_alarm_threshold} ready messages in all" : "has held more than ${var.backlog_alarm_threshold} ready messages"} for 15 minutes, or ${local.sharded ? "their" : "its"} metrics stopped arriving (see Lambda function ${local.name}-metrics)."

  namespace   = local.sharded ? null : local.queue_metrics[var.queue_name].namespace
  metric_name = local.sharded ? null : "MessagesReady"
  dimensions  = local.sharded ? null : local.queue_metrics[var.queue_name].dimensions
  statistic   = local.sharded ? null : "Minimum"
  period      = local.sharded ? null : 300

  dynamic "metric_query" {
    for_each = local.sharded ? local.consumed_queues : []
    content {
      id = "shard${metric_query.key}"
      metric {
        namespace   = local.queue_metrics[metric_query.value].namespace
        metric_name = "MessagesReady"
        dimensions  = local.queue_metrics[metric_query.value].dimensions
        stat        = "Minimum"
        period      = 300
      }
    }
  }

  dynamic "metric_query" {
    for_each = local.sharded ? [1] : []
    content {
      id          = "backlog"
      expression  = "SUM([${join(", ", [for index, queue in local.consumed_queues : "shard${index}"])}])"
      label       = "Ready messages, all shards"
      return_data = true
    }
  }

  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.backlog_alarm_threshold
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# No consumer on the work queue: the mapping's poller is gone, a direct signal whatever the
# traffic (its state then tells why, e.g. EVENT_SOURCE_AUTHN_ERROR after a password change). With
# shards, on the shard with the fewest (metric math, as for the backlog): any poller gone fires.
resource "aws_cloudwatch_metric_alarm" "poller_stopped" {
  count = local.monitoring && var.create_poller_stopped_alarm && var.event_source_mapping_enabled ? 1 : 0

  alarm_name        = "${local.name}-poller-stopped"
  alarm_description = "${local.sharded ? "A shard queue of ${var.queue_name}" : "Queue ${var.queue_name}"} has had no consumer for 10 minutes, or its metrics stopped arriving: check ${local.sharded ? "each" : "the"} event source mapping's State and StateTransitionReason (Lambda function ${aws_lambda_function.this.function_name})."

  namespace   = local.sharded ? null : local.queue_metrics[var.queue_name].namespace
  metric_name = local.sharded ? null : "Consumers"
  dimensions  = local.sharded ? null : local.queue_metrics[var.queue_name].dimensions
  statistic   = local.sharded ? null : "Maximum"
  period      = local.sharded ? null : 300

  dynamic "metric_query" {
    for_each = local.sharded ? local.consumed_queues : []
    content {
      id = "shard${metric_query.key}"
      metric {
        namespace   = local.queue_metrics[metric_query.value].namespace
        metric_name = "Consumers"
        dimensions  = local.queue_metrics[metric_query.value].dimensions
        stat        = "Maximum"
        period      = 300
      }
    }
  }

  dynamic "metric_query" {
    for_each = local.sharded ? [1] : []
    content {
      id          = "fewest"
      expression  = "MIN([${join(", ", [for index, queue in local.consumed_queues : "shard${index}"])}])"
      label       = "Consumers of the shard with the fewest"
      return_data = true
    }
  }

  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# The monitor itself: it failed, or it did not run (a silent monitor must alarm).
resource "aws_cloudwatch_metric_alarm" "metrics_function_failing" {
  count = local.monitoring ? 1 : 0

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

# Every alarm of this deployment: the alarm_names output and the dashboard's alarm widget.
locals {
  alarms = concat(
    aws_cloudwatch_metric_alarm.lambda_errors,
    aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty,
    aws_cloudwatch_metric_alarm.broker_dead_letter_queue_not_empty,
    aws_cloudwatch_metric_alarm.queue_backlog,
    aws_cloudwatch_metric_alarm.metrics_function_failing,
    aws_cloudwatch_metric_alarm.poller_stopped,
    aws_cloudwatch_metric_alarm.rotation_errors,
  )
}

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

  # Row 1 and the batch widget show the one queue, or each shard queue (one line each, stacked
  # where the lines add up to the whole). The two layouts' widgets differ in shape, so a tuple
  # index picks one (a conditional cannot choose between tuples of different shapes).
  dashboard_widgets = concat(
    [local.queue_widgets, local.shard_widgets][local.sharded ? 1 : 0],
    local.function_widgets,
    [[local.batch_widget], [local.shard_batch_widget]][local.sharded ? 1 : 0],
    local.dead_letter_widgets,
  )

  shards = [for index, queue in local.consumed_queues : {
    label      = "shard-${index}"
    queue      = ["VirtualHost", var.virtual_host, "Queue", queue]
    powertools = ["service", var.service_name, "Queue", queue, "VirtualHost", var.virtual_host]
  }]
  shard_widgets = [
    {
      title   = "Shards of ${var.queue_name}: ready messages (stacked: the backlog)"
      stacked = true
      metrics = [for shard in local.shards : concat([var.metrics_namespace, "MessagesReady"], shard.queue, [{ label = shard.label, stat = "Maximum" }])]
    },
    {
      title   = "Shards of ${var.queue_name}: delivered (messages/s, stacked)"
      stacked = true
      metrics = [for shard in local.shards : concat([var.metrics_namespace, "DeliverRate"], shard.queue, [{ label = shard.label, stat = "Average" }])]
    },
    {
      title   = "Shards of ${var.queue_name}: consumers (one poller each)"
      metrics = [for shard in local.shards : concat([var.metrics_namespace, "Consumers"], shard.queue, [{ label = shard.label, stat = "Minimum" }])]
    },
  ]
  shard_batch_widget = {
    title   = "Function: messages processed per shard (stacked)"
    stacked = true
    metrics = [for shard in local.shards : concat([var.metrics_namespace, "Processed"], shard.powertools, [{ label = shard.label, stat = "Sum" }])]
  }

  queue_widgets = [
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
  ]
  function_widgets = [
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
  ]
  batch_widget = {
    title = "Function: messages per batch"
    metrics = [
      concat([var.metrics_namespace, "BatchSize"], local.powertools, [{ label = "Batch size (average)", stat = "Average" }]),
      concat([var.metrics_namespace, "Processed"], local.powertools, [{ label = "Processed", stat = "Sum" }]),
      concat([var.metrics_namespace, "DeadLettered"], local.powertools, [{ label = "Dead-lettered", stat = "Sum" }]),
    ]
  }
  dead_letter_widgets = [
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
  count = local.monitoring ? 1 : 0

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
          properties = merge(
            {
              title   = widget.title
              metrics = widget.metrics
              region  = local.region
              period  = 60
              view    = "timeSeries"
            },
            { for key, value in { stacked = true } : key => value if try(widget.stacked, false) },
          )
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
