# The preconditions: what only the plan can know (the subnets, the VPC, the generated password,
# the region of the AWS environment) is checked before anything is created.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

variables {
  # A private cluster over three subnets (mocks/aws.tfmock.hcl puts them in this VPC, in
  # distinct zones); each run breaks one of that picture.
  publicly_accessible = false
  vpc_id              = "vpc-0123456789abcdef0"
  subnet_ids          = ["subnet-0a", "subnet-0b", "subnet-0c"]
  deployment_mode     = "CLUSTER_MULTI_AZ"
}

run "a_private_cluster_plans" {
  command = plan
}

run "subnets_in_one_zone" {
  command = plan
  override_data {
    target = data.aws_subnet.broker
    values = { vpc_id = "vpc-0123456789abcdef0", availability_zone = "eu-west-1a" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_subnet_of_another_vpc" {
  command = plan
  override_data {
    target = data.aws_subnet.broker["subnet-0b"]
    values = { vpc_id = "vpc-0fedcba9876543210", availability_zone = "eu-west-1b" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_vpc_without_dns_hostnames" {
  # EC2's default for a new VPC: DNS support on, DNS hostnames off; private DNS needs both.
  command = plan
  override_data {
    target = data.aws_vpc.this
    values = { enable_dns_support = true, enable_dns_hostnames = false }
  }
  expect_failures = [aws_security_group.endpoints]
}

run "a_region_of_the_environment_outside_the_commercial_partition" {
  # region = null takes the environment's, which the variable's validation cannot see.
  command = plan
  variables {
    publicly_accessible = true
    vpc_id              = null
    subnet_ids          = []
    deployment_mode     = "SINGLE_INSTANCE"
  }
  override_data {
    target = data.aws_region.current
    values = { id = "cn-north-1" }
  }
  expect_failures = [aws_lambda_function.this]
}

# Passwords that break one of Amazon MQ's rules each (12-250 characters, 4 distinct, none of
# , : =), in place of the generated one: the broker's precondition refuses them at plan time.

run "a_password_too_short" {
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "Short-pw.1" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_password_of_three_distinct_characters" {
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "aaaaaaaaaaaaabbc" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_password_with_a_colon" {
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "Long-enough:pass1" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_password_with_an_equals_sign" {
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "Pass=word.12345" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_password_with_a_comma" {
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "Pass,word.12345" }
  }
  expect_failures = [aws_mq_broker.this]
}

run "a_good_password" {
  # The other side of the rule: a password that keeps every rule plans.
  command = plan
  override_resource {
    target          = random_password.broker
    override_during = plan
    values          = { result = "Good-pass.word-1" }
  }
}
