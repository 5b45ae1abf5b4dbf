# What the mocked hashicorp/aws provider answers in every *.tftest.hcl file (`mock_provider "aws"
# { source = "./tests/terraform/mocks" }`): a mock gives random strings to computed values, so
# the data sources whose values the configuration uses get plausible ones here. A run overrides
# them where it needs others (override_data).

# The region of the caller's AWS environment (main.tf: local.region).
mock_data "aws_region" {
  defaults = {
    id = "eu-west-1"
  }
}

# The account (credential_rotation.tf: the rotation permission's source_account, 12 digits).
mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

# The provider still validates each role's assume_role_policy as a JSON policy.
mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}

# A VPC where private DNS works (private_network.tf checks both attributes).
mock_data "aws_vpc" {
  defaults = {
    enable_dns_support   = true
    enable_dns_hostnames = true
  }
}

# The broker's subnets (private_network.tf), in the VPC the tests name as vpc_id; their zones are
# left to the mock, random and so distinct, as the broker's must be.
mock_data "aws_subnet" {
  defaults = {
    vpc_id = "vpc-0123456789abcdef0"
  }
}
