# Shards (docs/sharding.md): shard_count queues behind a consistent-hash exchange, one event source
# mapping each; the bootstrap, the metrics function and the alarms cover every shard (the dashboard's
# body is known after apply: tests/terraform/test_terraform.py reads it);
# what the exchange cannot hash, and more shards than an alarm can read, fail the plan.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

override_resource {
  target          = aws_secretsmanager_secret.consumer
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer" }
}

run "one_queue_by_default" {
  command = plan

  assert {
    condition     = [for mapping in aws_lambda_event_source_mapping.this : mapping.queues[0]] == ["orders"]
    error_message = "shard_count = 1: one mapping, on queue_name."
  }
  assert {
    condition     = tolist(output.consumed_queues) == tolist(["orders"]) && output.publish_exchange == ""
    error_message = "shard_count = 1: publishers send through the default exchange to queue_name."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.queue_backlog[0].metric_name == "MessagesReady" && length(aws_cloudwatch_metric_alarm.queue_backlog[0].metric_query) == 0
    error_message = "shard_count = 1: the backlog alarm reads the queue's metric, as it always did."
  }
}

run "four_shards_by_customer" {
  command = plan
  variables {
    shard_count  = 4
    ordering_key = "header:customer-id"
  }

  assert {
    condition = {
      for key, mapping in aws_lambda_event_source_mapping.this : key => mapping.queues[0]
      } == {
      "0" = "orders.shard-0", "1" = "orders.shard-1", "2" = "orders.shard-2", "3" = "orders.shard-3"
    }
    error_message = "One mapping per shard queue, named as rabbitmq_admin.topology names them."
  }
  assert {
    condition = alltrue([
      for mapping in aws_lambda_event_source_mapping.this : contains(
        [for access in mapping.source_access_configuration : access.uri],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer",
      )
    ])
    error_message = "Every mapping reads as the consumer user, whose permissions cover every shard."
  }
  assert {
    condition = (
      aws_lambda_function.admin["bootstrap"].environment[0].variables["SHARD_COUNT"] == "4" &&
      aws_lambda_function.admin["bootstrap"].environment[0].variables["ORDERING_KEY"] == "header:customer-id"
    )
    error_message = "The bootstrap declares the exchange and the shards from SHARD_COUNT and ORDERING_KEY."
  }
  assert {
    condition     = aws_lambda_function.admin["metrics"].environment[0].variables["QUEUES"] == "orders.shard-0,orders.shard-1,orders.shard-2,orders.shard-3,orders.dlq"
    error_message = "The metrics function reads every shard queue and the dead-letter queue."
  }
  assert {
    condition     = tolist(output.consumed_queues) == tolist(["orders.shard-0", "orders.shard-1", "orders.shard-2", "orders.shard-3"]) && output.publish_exchange == "orders"
    error_message = "send.py and verify.py find the shards and the exchange in the outputs."
  }
  assert {
    condition = (
      length([for query in aws_cloudwatch_metric_alarm.queue_backlog[0].metric_query : query if query.metric != null && length(query.metric) > 0]) == 4 &&
      [for query in aws_cloudwatch_metric_alarm.queue_backlog[0].metric_query : query.expression if query.return_data == true] == ["SUM([shard0, shard1, shard2, shard3])"]
    )
    error_message = "The backlog alarm watches the sum of the four shards' ready messages (metric math)."
  }
  assert {
    condition     = [for query in aws_cloudwatch_metric_alarm.poller_stopped[0].metric_query : query.expression if query.return_data == true] == ["MIN([shard0, shard1, shard2, shard3])"]
    error_message = "The poller-stopped alarm watches the shard with the fewest consumers."
  }
}

run "ten_shards_by_message_id" {
  command = plan
  variables {
    shard_count  = 10
    ordering_key = "message-id"
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this) == 10
    error_message = "Ten shards, ten mappings."
  }
  assert {
    condition     = length([for query in aws_cloudwatch_metric_alarm.queue_backlog[0].metric_query : query if query.metric != null && length(query.metric) > 0]) == 10
    error_message = "Ten shards are as many metrics as one alarm reads (PutMetricAlarm: 10 MetricStat at most)."
  }
}

run "more_shards_than_an_alarm_reads" {
  command = plan
  variables {
    shard_count  = 11
    ordering_key = "message-id"
  }
  expect_failures = [var.shard_count]
}

run "a_shard_count_not_whole" {
  command = plan
  variables {
    shard_count  = 2.5
    ordering_key = "message-id"
  }
  expect_failures = [var.shard_count]
}

run "no_shards" {
  command = plan
  variables {
    shard_count = 0
  }
  expect_failures = [var.shard_count]
}

run "shards_without_an_ordering_key" {
  command = plan
  variables {
    shard_count = 4 # ordering_key stays "none"
  }
  expect_failures = [var.shard_count]
}

run "shards_on_a_key_in_the_body" {
  command = plan
  variables {
    shard_count  = 4
    ordering_key = "json:customerId" # the exchange cannot read the body
  }
  expect_failures = [var.shard_count]
}
