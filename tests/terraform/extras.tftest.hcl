# Each extra is switched off by one variable that removes all of its resources, and the core
# works without it; with every extra on, each one's resources are there.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

run "every_extra_on_by_default_but_private_networking" {
  command = plan

  assert {
    condition     = toset(keys(aws_lambda_function.admin)) == toset(["bootstrap", "metrics", "rotation"])
    error_message = "With the defaults the metrics and rotation functions must exist beside the bootstrap."
  }
  assert {
    condition     = length(aws_s3_bucket.dead_letters) == 1 && length(aws_cloudwatch_dashboard.this) == 1 && length(aws_secretsmanager_secret.monitoring) == 1
    error_message = "With the defaults the large dead letters' bucket, the dashboard and the monitoring secret must exist."
  }
  assert {
    condition     = length(aws_secretsmanager_secret_rotation.users) == 3 && length(aws_cloudwatch_metric_alarm.rotation_errors) == 1
    error_message = "With the defaults the three user secrets must rotate, with an alarm on failed rotations."
  }
  assert {
    condition     = length(aws_security_group.broker) == 0 && length(aws_vpc_endpoint.this) == 0
    error_message = "A public broker (the default) must have no private networking."
  }
}

run "without_monitoring" {
  command = plan
  variables {
    enable_monitoring = false
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.admin), "metrics")
    error_message = "Without monitoring there must be no metrics function."
  }
  assert {
    condition = alltrue([for resources in [
      aws_secretsmanager_secret.monitoring, aws_cloudwatch_event_rule.metrics, aws_cloudwatch_event_target.metrics,
      aws_lambda_permission.metrics_schedule, aws_sns_topic.alarms, aws_cloudwatch_dashboard.this,
      aws_cloudwatch_metric_alarm.lambda_errors, aws_cloudwatch_metric_alarm.dead_letter_queue_not_empty,
      aws_cloudwatch_metric_alarm.broker_dead_letter_queue_not_empty, aws_cloudwatch_metric_alarm.queue_backlog,
      aws_cloudwatch_metric_alarm.poller_stopped, aws_cloudwatch_metric_alarm.metrics_function_failing,
      aws_cloudwatch_metric_alarm.rotation_errors,
    ] : length(resources) == 0])
    error_message = "Without monitoring there must be no monitoring secret, schedule, alarm or dashboard."
  }
  assert {
    condition     = !anytrue([for name in keys(local.bootstrap_environment) : startswith(name, "MONITORING_")])
    error_message = "Without monitoring the bootstrap must make no monitoring user."
  }
  assert {
    condition     = length(aws_secretsmanager_secret_rotation.users) == 2
    error_message = "Without monitoring only the consumer's and the publisher's secrets rotate."
  }
  assert {
    condition     = output.alarm_names == [] && output.dashboard_url == null && output.metrics_function_name == null && output.monitoring_secret_arn == null
    error_message = "Without monitoring the outputs must say there is none."
  }
}

run "without_credential_rotation" {
  command = plan
  variables {
    credential_rotation_days = null
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.admin), "rotation")
    error_message = "Without rotation there must be no rotation function."
  }
  assert {
    condition = (
      length(aws_secretsmanager_secret_rotation.users) == 0 && length(aws_lambda_permission.rotation) == 0 &&
      length(aws_cloudwatch_metric_alarm.rotation_errors) == 0 && length(data.aws_caller_identity.current) == 0
    )
    error_message = "Without rotation there must be no rotation schedule, permission or alarm."
  }
  assert {
    condition     = output.rotation_function_name == null
    error_message = "Without rotation the output rotation_function_name must be null."
  }
}

run "without_large_dead_letters" {
  command = plan
  variables {
    enable_large_dead_letters = false
  }

  assert {
    condition = alltrue([for resources in [
      aws_s3_bucket.dead_letters, aws_s3_bucket_public_access_block.dead_letters, aws_s3_bucket_ownership_controls.dead_letters,
      aws_s3_bucket_server_side_encryption_configuration.dead_letters, aws_s3_bucket_lifecycle_configuration.dead_letters,
      aws_s3_bucket_policy.dead_letters, data.aws_iam_policy_document.large_dead_letters,
    ] : length(resources) == 0])
    error_message = "Without large dead letters there must be no bucket, and no leave to write to one."
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.this.environment[0].variables), "DEAD_LETTER_BUCKET")
    error_message = "Without the bucket the function must get no DEAD_LETTER_BUCKET (it then fails on a dead letter over SQS's 1 MiB)."
  }
  assert {
    condition     = output.dead_letter_bucket == null
    error_message = "Without the bucket the output dead_letter_bucket must be null."
  }
}

run "private_networking" {
  command = plan
  variables {
    publicly_accessible = false
    vpc_id              = "vpc-0123456789abcdef0"
    subnet_ids          = ["subnet-0a"]
  }

  assert {
    condition     = length(aws_security_group.broker) == 1 && length(aws_security_group.admin) == 1 && length(aws_vpc_endpoint.this) == 3
    error_message = "Private mode must give the broker and the admin functions their security groups, and three endpoints."
  }
  assert {
    condition     = toset([for endpoint in aws_vpc_endpoint.this : endpoint.service_name]) == toset(["com.amazonaws.eu-west-1.lambda", "com.amazonaws.eu-west-1.secretsmanager", "com.amazonaws.eu-west-1.sts"])
    error_message = "The endpoints must be those of the environment's region."
  }
  assert {
    condition     = alltrue([for function in aws_lambda_function.admin : length(function.vpc_config) == 1])
    error_message = "In private mode every admin function must run in the broker's subnets."
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.broker_amqps_self[0].from_port == 5671 &&
      aws_vpc_security_group_ingress_rule.broker_amqps_self[0].to_port == 5671 &&
      aws_vpc_security_group_ingress_rule.broker_amqps_self[0].ip_protocol == "tcp"
    )
    error_message = "The broker's group must let itself in on AMQPS (5671): the poller's interfaces share it."
  }
  assert {
    condition     = length(aws_vpc_security_group_egress_rule.broker_https_out) == 0 && length(aws_vpc_security_group_egress_rule.admin_https_out) == 0
    error_message = "With an endpoint for every service the poller and the admin functions call, nothing may go out to 0.0.0.0/0."
  }
}
