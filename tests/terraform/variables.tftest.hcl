# Every variable validation of variables.tf fails the plan when its rule is broken.
#
# Each run breaks one rule of each variable it names (the comment says which) and expects
# exactly those variables to fail: a run passes only if every variable in expect_failures
# reports an error and nothing else does. A run never breaks two variables of which one refers
# to the other (engine_version reads instance_type; each user name reads the ones before it;
# the network variables read publicly_accessible and deployment_mode): Terraform does not
# evaluate a validation whose variable refers to one that already failed. (Terraform does
# not let a test read a failure's message.)
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

run "the_defaults_plan" {
  command = plan
}

run "broker_a" {
  command = plan
  variables {
    instance_type              = "mq.t3.micro"             # Amazon MQ refuses mq.t3.* for RabbitMQ
    deployment_mode            = "ACTIVE_STANDBY_MULTI_AZ" # ActiveMQ only
    auto_minor_version_upgrade = false                     # required for 3.13 and later
    broker_username            = "a"                       # 2-100 characters
  }
  expect_failures = [var.instance_type, var.deployment_mode, var.auto_minor_version_upgrade, var.broker_username]
}

run "broker_b" {
  command = plan
  variables {
    engine_version                 = "3.12"  # out of support
    broker_username                = "guest" # Amazon MQ deletes that user
    credential_rotation_days       = 0       # 1-1000 days, or null
    secret_recovery_window_in_days = 3       # 0, or 7-30
    create_vpc_endpoints           = false   # replaced by vpc_endpoint_services
  }
  expect_failures = [
    var.engine_version, var.broker_username, var.credential_rotation_days, var.secret_recovery_window_in_days,
    var.create_vpc_endpoints,
  ]
}

run "rabbitmq_4_2_needs_m7g" {
  command = plan
  variables {
    engine_version  = "4.2"
    instance_type   = "mq.m5.large"                                                                                           # a valid type, but for 3.13 only
    broker_username = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" # 101 characters
  }
  expect_failures = [var.engine_version, var.broker_username]
}

run "rabbitmq_4_3_needs_m7g" {
  command = plan
  variables {
    engine_version  = "4.3"
    instance_type   = "mq.m5.xlarge"
    broker_username = "ops~admin" # Amazon MQ refuses ~
  }
  expect_failures = [var.engine_version, var.broker_username]
}

run "unknown_instance_type" {
  command = plan
  variables {
    instance_type            = "mq.m5.medium" # no such type (mq.m5 starts at large)
    broker_username          = "ops:admin"    # Amazon MQ refuses :
    credential_rotation_days = 1001
  }
  expect_failures = [var.instance_type, var.broker_username, var.credential_rotation_days]
}

run "another_unknown_instance_type" {
  command = plan
  variables {
    instance_type     = "mq.t2.micro"
    consumer_username = "lambda consumer" # letters, digits, - . _ only
  }
  expect_failures = [var.instance_type, var.consumer_username]
}

run "patch_versions_and_the_admins_name" {
  command = plan
  variables {
    engine_version    = "3.13.2" # major.minor only: Amazon MQ applies the patches
    consumer_username = "admin"  # broker_username's
  }
  expect_failures = [var.engine_version, var.consumer_username]
}

run "queue_and_mapping_a" {
  command = plan
  variables {
    publisher_username                 = "lambda-consumer" # consumer_username's
    queue_name                         = "amq.orders"      # reserved by RabbitMQ
    virtual_host                       = ""                # 1-255 characters
    delivery_limit                     = 0                 # at least 1
    batch_size                         = 0                 # 1-10000
    maximum_batching_window_in_seconds = 301               # 0-300
  }
  expect_failures = [
    var.publisher_username, var.queue_name, var.virtual_host, var.delivery_limit, var.batch_size,
    var.maximum_batching_window_in_seconds,
  ]
}

run "queue_and_mapping_b" {
  command = plan
  variables {
    monitoring_username                = "publisher" # publisher_username's
    queue_name                         = "orders,eu" # the metrics function's QUEUES is comma-separated
    batch_size                         = 10001
    maximum_batching_window_in_seconds = -1
  }
  expect_failures = [var.monitoring_username, var.queue_name, var.batch_size, var.maximum_batching_window_in_seconds]
}

run "function" {
  command = plan
  variables {
    publisher_username       = "lambda-consumer_clone" # another user's rotation alternate (checked by monitoring_username)
    lambda_timeout           = 841                     # 14 minutes at most for Amazon MQ event sources
    lambda_memory_size       = 64                      # 128-10240 MB
    lambda_runtime           = "python3.11"            # no Powertools V3 layer for it here
    lambda_architecture      = "arm"
    powertools_layer_version = 0
    log_level                = "TRACE"
    log_retention_in_days    = 10 # not a value CloudWatch Logs accepts
  }
  expect_failures = [
    var.monitoring_username, var.lambda_timeout, var.lambda_memory_size, var.lambda_runtime, var.lambda_architecture,
    var.powertools_layer_version, var.log_level, var.log_retention_in_days,
  ]
}

run "general_and_monitoring" {
  command = plan
  variables {
    region                  = "cn-north-1" # its Powertools layers come from another account
    name_prefix             = "rabbit_lambda"
    maintenance_window      = { day_of_week = "Sunday", time_of_day = "03:00" }
    backlog_alarm_threshold = -1
    alarm_email             = "ops" # not an address
  }
  expect_failures = [var.region, var.name_prefix, var.maintenance_window, var.backlog_alarm_threshold, var.alarm_email]
}

run "a_long_prefix_and_a_bad_time" {
  command = plan
  variables {
    name_prefix        = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" # 33 characters
    maintenance_window = { day_of_week = "SUNDAY", time_of_day = "3am" }
  }
  expect_failures = [var.name_prefix, var.maintenance_window]
}

run "alarm_email_needs_monitoring" {
  command = plan
  variables {
    enable_monitoring = false
    alarm_email       = "ops@example.com"
  }
  expect_failures = [var.alarm_email]
}

run "private_mode_needs_a_vpc" {
  command = plan
  variables {
    publicly_accessible = false
    subnet_ids          = ["subnet-0a"]
  }
  expect_failures = [var.vpc_id]
}

run "private_mode_needs_subnets" {
  command = plan
  variables {
    publicly_accessible = false
    vpc_id              = "vpc-0123456789abcdef0"
  }
  expect_failures = [var.subnet_ids]
}

run "public_mode_takes_no_network" {
  command = plan
  variables {
    vpc_id                     = "vpc-0123456789abcdef0"
    subnet_ids                 = ["subnet-0a"]
    broker_ingress_cidr_blocks = ["10.8.0.0/16"] # a public broker has no security group
  }
  expect_failures = [var.vpc_id, var.subnet_ids, var.broker_ingress_cidr_blocks]
}

run "single_instance_takes_one_subnet" {
  command = plan
  variables {
    publicly_accessible        = false
    vpc_id                     = "vpc-0123456789abcdef0"
    subnet_ids                 = ["subnet-0a", "subnet-0b"]
    vpc_endpoint_services      = ["lambda", "s3"] # what the poller and the admin functions call, only
    broker_ingress_cidr_blocks = ["10.8.0.0"]     # not a CIDR block
  }
  expect_failures = [var.subnet_ids, var.vpc_endpoint_services, var.broker_ingress_cidr_blocks]
}

run "a_subnet_listed_twice" {
  command = plan
  variables {
    publicly_accessible = false
    vpc_id              = "vpc-0123456789abcdef0"
    deployment_mode     = "CLUSTER_MULTI_AZ"
    subnet_ids          = ["subnet-0a", "subnet-0a"]
  }
  expect_failures = [var.subnet_ids]
}
