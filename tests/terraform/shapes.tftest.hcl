# The shapes of the core resources, planned with every extra at its default: the event source
# mapping, the consumer function, the bootstrap's environment, IAM scoped to single resources,
# descriptions within AWS's limits, the region taken from the environment.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

# ARNs and the broker's console URL as AWS would return them, known at plan time so that the
# assertions can compare them (a mock leaves computed values unknown until apply).
override_resource {
  target          = aws_mq_broker.this
  override_during = plan
  values = {
    arn       = "arn:aws:mq:eu-west-1:123456789012:broker:rabbitmq-lambda-broker:b-1234"
    instances = [{ console_url = "https://b-1234.mq.eu-west-1.on.aws", endpoints = ["amqps://b-1234.mq.eu-west-1.on.aws:5671"], ip_address = "" }]
  }
}
override_resource {
  target          = aws_secretsmanager_secret.broker
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin" }
}
override_resource {
  target          = aws_secretsmanager_secret.consumer
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer" }
}
override_resource {
  target          = aws_secretsmanager_secret.publisher
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:publisher" }
}
override_resource {
  target          = aws_secretsmanager_secret.monitoring
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:monitoring" }
}
override_resource {
  target          = aws_cloudwatch_log_group.this
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/rabbitmq-lambda-consumer" }
}
override_resource {
  target          = aws_cloudwatch_log_group.admin
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/rabbitmq-lambda-admin" }
}
override_resource {
  target          = aws_sqs_queue.dead_letter
  override_during = plan
  values = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:rabbitmq-lambda-dead-letters"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/rabbitmq-lambda-dead-letters"
  }
}
override_resource {
  target          = aws_s3_bucket.dead_letters
  override_during = plan
  values          = { id = "rabbitmq-lambda-dl-1234", arn = "arn:aws:s3:::rabbitmq-lambda-dl-1234" }
}

run "the_mapping_consumes_the_queue_as_the_consumer_user" {
  command = plan
  variables {
    queue_name                         = "payments"
    virtual_host                       = "prod"
    batch_size                         = 10
    maximum_batching_window_in_seconds = 5
  }

  assert {
    condition     = keys(aws_lambda_event_source_mapping.this) == ["0"] && aws_lambda_event_source_mapping.this["0"].queues == tolist(["payments"])
    error_message = "One mapping, consuming queue_name and nothing else (shard_count = 1)."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.this["0"].batch_size == 10 &&
      aws_lambda_event_source_mapping.this["0"].maximum_batching_window_in_seconds == 5 &&
      aws_lambda_event_source_mapping.this["0"].enabled
    )
    error_message = "The mapping must take batch_size, maximum_batching_window_in_seconds and event_source_mapping_enabled."
  }
  assert {
    condition = tomap({
      for access in aws_lambda_event_source_mapping.this["0"].source_access_configuration : access.type => access.uri
      }) == tomap({
      BASIC_AUTH   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer" # never the admin's
      VIRTUAL_HOST = "prod"
    })
    error_message = "The mapping must sign in with the consumer's secret on virtual_host."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["0"].event_source_arn == aws_mq_broker.this.arn
    error_message = "The mapping must read the broker."
  }
}

run "the_consumer_function" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.this.handler == "rabbitmq_consumer.handler.lambda_handler" &&
      aws_lambda_function.this.runtime == "python3.13" &&
      aws_lambda_function.this.architectures == tolist(["arm64"]) &&
      aws_lambda_function.this.tracing_config[0].mode == "Active"
    )
    error_message = "The consumer must run rabbitmq_consumer.handler on python3.13, arm64, traced."
  }
  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      POWERTOOLS_SERVICE_NAME      = "rabbitmq-consumer"
      POWERTOOLS_LOG_LEVEL         = "INFO"
      POWERTOOLS_METRICS_NAMESPACE = "RabbitMQConsumer"
      DEAD_LETTER_QUEUE_URL        = "https://sqs.eu-west-1.amazonaws.com/123456789012/rabbitmq-lambda-dead-letters"
      DEAD_LETTER_BUCKET           = "rabbitmq-lambda-dl-1234"
      DELIVERY_LIMIT               = "20"
      ORDERING_KEY                 = "none"
      PARALLELISM                  = "1"
      IDEMPOTENCY_TABLE            = "rabbitmq-lambda-idempotency"
      IDEMPOTENCY_KEY              = "message-id"
      IDEMPOTENCY_TTL_SECONDS      = "604800"
      IDEMPOTENCY_FAIL_OPEN        = "false"
    })
    error_message = "The consumer's environment must hold its settings and no secret."
  }
}

run "the_region_comes_from_the_aws_environment" {
  # region = null (the default): the mocked aws_region answers eu-west-1, as the provider would
  # for AWS_REGION=eu-west-1 (mocks/aws.tfmock.hcl).
  command = plan
  override_data {
    target = data.aws_region.current
    values = { id = "ap-southeast-2" }
  }

  assert {
    condition     = aws_lambda_function.this.layers == tolist(["arn:aws:lambda:ap-southeast-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"])
    error_message = "The Powertools layer must be the one of the environment's region."
  }
  assert {
    condition     = output.region == "ap-southeast-2"
    error_message = "The region output (which send.py reads) must be the environment's region."
  }
  assert {
    condition     = output.dashboard_url == "https://ap-southeast-2.console.aws.amazon.com/cloudwatch/home?region=ap-southeast-2#dashboards/dashboard/rabbitmq-lambda"
    error_message = "The dashboard URL must point at the environment's region."
  }
}

run "a_cluster_on_rabbitmq_4" {
  command = plan
  variables {
    engine_version  = "4.2"
    instance_type   = "mq.m7g.large"
    deployment_mode = "CLUSTER_MULTI_AZ"
  }

  assert {
    condition = (
      aws_mq_broker.this.engine_version == "4.2" && aws_mq_broker.this.host_instance_type == "mq.m7g.large" &&
      aws_mq_broker.this.deployment_mode == "CLUSTER_MULTI_AZ" && aws_mq_broker.this.publicly_accessible
    )
    error_message = "The broker must take engine_version, instance_type and deployment_mode."
  }
  assert {
    condition     = output.max_message_size == 524288
    error_message = "On 4.x Amazon MQ's default max_message_size is 512 KiB, which send.py reads from this output."
  }
}

run "the_bootstrap_is_configured_by_its_environment_only" {
  command = plan
  variables {
    consumer_configure_permission = true
  }

  assert {
    condition = aws_lambda_function.admin["bootstrap"].environment[0].variables == tomap({
      MANAGEMENT_URL                = "https://b-1234.mq.eu-west-1.on.aws"
      ADMIN_SECRET_ARN              = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:admin"
      CONSUMER_SECRET_ARN           = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer"
      PUBLISHER_SECRET_ARN          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:publisher"
      MONITORING_SECRET_ARN         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:monitoring"
      CONSUMER_USERNAME             = "lambda-consumer"
      PUBLISHER_USERNAME            = "publisher"
      MONITORING_USERNAME           = "queue-metrics"
      QUEUE_NAME                    = "orders"
      VIRTUAL_HOST                  = "/"
      DELIVERY_LIMIT                = "20"
      CONSUMER_CONFIGURE_PERMISSION = "true"
      SHARD_COUNT                   = "1"
      ORDERING_KEY                  = "none"
    })
    error_message = "The bootstrap's environment must hold everything it applies (rabbitmq_admin.bootstrap_handler reads it)."
  }
  assert {
    condition     = aws_lambda_function.admin["bootstrap"].handler == "rabbitmq_admin.bootstrap_handler.lambda_handler" && aws_lambda_function.admin["bootstrap"].timeout == 300
    error_message = "The bootstrap must run rabbitmq_admin.bootstrap_handler, with 300 s to outlast a settling broker."
  }
  assert {
    condition     = keys(jsondecode(aws_lambda_invocation.bootstrap.input)) == ["trigger"]
    error_message = "The invocation must carry a trigger only: the function reads its configuration from its environment."
  }
}

run "iam_statements_name_their_resource" {
  # Private mode, for the admin functions' network-interface statement too.
  command = plan
  variables {
    publicly_accessible = false
    vpc_id              = "vpc-0123456789abcdef0"
    subnet_ids          = ["subnet-0a"]
  }

  # Only the documented statements may use "*", each with its own actions: the poller's network
  # interfaces and X-Ray writes (main.tf), a VPC function's network interfaces (bootstrap.tf).
  assert {
    condition = alltrue(flatten([
      for document in concat(
        [data.aws_iam_policy_document.execution, data.aws_iam_policy_document.bootstrap],
        values(data.aws_iam_policy_document.admin),
        data.aws_iam_policy_document.metrics,
        data.aws_iam_policy_document.rotation,
        data.aws_iam_policy_document.large_dead_letters,
        ) : [
        for statement in document.statement : contains(statement.resources, "*") ? (
          length(statement.resources) == 1 && contains(["PollerNetworkInterfaces", "WriteTraces", "VpcNetworkInterfaces"], statement.sid)
          ) : (
          length(statement.resources) >= 1 && alltrue([for resource in statement.resources : startswith(resource, "arn:aws:")])
        )
      ]
    ]))
    error_message = "Every IAM statement must name its resources by ARN, except PollerNetworkInterfaces, WriteTraces and VpcNetworkInterfaces."
  }
  assert {
    condition = [
      for statement in data.aws_iam_policy_document.execution.statement : statement.actions if statement.sid == "PollerNetworkInterfaces"
      ] == [toset([
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
    ])]
    error_message = "PollerNetworkInterfaces must grant the EC2 actions the Lambda guide lists for Amazon MQ mappings, no more."
  }
  assert {
    condition = [
      for statement in data.aws_iam_policy_document.execution.statement : statement.resources if statement.sid == "ReadConsumerCredentials"
    ] == [toset(["arn:aws:secretsmanager:eu-west-1:123456789012:secret:consumer"])]
    error_message = "The poller must read the consumer's secret only, never the admin's."
  }
  assert {
    condition     = length([for statement in data.aws_iam_policy_document.admin["bootstrap"].statement : statement if statement.sid == "VpcNetworkInterfaces"]) == 1
    error_message = "In private mode each admin function needs its VPC network-interface statement."
  }
}

run "descriptions_fit_aws_limits_with_the_longest_names" {
  # The longest names the variables allow, a private cluster with client networks.
  command = plan
  variables {
    name_prefix                = "a1-1-1-1-1-1-1-1-1-1-1-1-1-1-1-z"
    queue_name                 = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    publicly_accessible        = false
    vpc_id                     = "vpc-0123456789abcdef0"
    subnet_ids                 = ["subnet-0a", "subnet-0b", "subnet-0c"]
    deployment_mode            = "CLUSTER_MULTI_AZ"
    broker_ingress_cidr_blocks = ["10.8.0.0/16", "192.168.100.0/24"]
  }

  # CreateFunction: Description is at most 256 characters.
  assert {
    condition     = alltrue([for function in concat([aws_lambda_function.this], values(aws_lambda_function.admin)) : length(function.description) <= 256])
    error_message = "A Lambda description is longer than 256 characters."
  }
  # EC2 (CreateSecurityGroup, IpRange, UserIdGroupPair): at most 255 of a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*
  assert {
    condition = alltrue([
      for description in concat(
        [for group in concat(aws_security_group.broker, aws_security_group.endpoints, aws_security_group.admin) : group.description],
        [for rule in concat(
          aws_vpc_security_group_ingress_rule.broker_amqps_self, aws_vpc_security_group_egress_rule.broker_amqps_self,
          aws_vpc_security_group_egress_rule.broker_to_endpoints, aws_vpc_security_group_ingress_rule.endpoints_from_poller,
          aws_vpc_security_group_egress_rule.admin_to_broker, aws_vpc_security_group_ingress_rule.broker_from_admin,
          aws_vpc_security_group_egress_rule.admin_to_endpoints, aws_vpc_security_group_ingress_rule.endpoints_from_admin,
          values(aws_vpc_security_group_ingress_rule.broker_clients),
        ) : rule.description],
      ) : can(regex("^[a-zA-Z0-9 ._\\-:/()#,@\\[\\]+=&;{}!$*]{0,255}$", description))
    ])
    error_message = "A security group or rule description breaks EC2's length or character set."
  }
}
