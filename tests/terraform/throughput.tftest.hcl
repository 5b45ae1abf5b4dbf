# Parallel lanes (docs/throughput.md): the ordering key and the parallelism reach the consumer
# function as ORDERING_KEY and PARALLELISM, and what the handler would refuse fails the plan.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

run "sequential_by_default" {
  command = plan
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["ORDERING_KEY"] == "none" &&
      aws_lambda_function.this.environment[0].variables["PARALLELISM"] == "1"
    )
    error_message = "By default a batch runs in one lane, in delivery order."
  }
}

run "lanes_by_customer" {
  command = plan
  variables {
    ordering_key = "header:customer-id"
    parallelism  = 16
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["ORDERING_KEY"] == "header:customer-id" &&
      aws_lambda_function.this.environment[0].variables["PARALLELISM"] == "16"
    )
    error_message = "ordering_key and parallelism must reach the function as ORDERING_KEY and PARALLELISM."
  }
}

run "a_json_path_and_no_order" {
  command = plan
  variables {
    ordering_key = "json:customer.id"
    parallelism  = 64
  }
}

run "an_ordering_key_the_handler_would_refuse" {
  command = plan
  variables {
    ordering_key = "customer-id" # neither header: nor json:
  }
  expect_failures = [var.ordering_key]
}

run "an_empty_json_path_segment" {
  command = plan
  variables {
    ordering_key = "json:customer..id"
  }
  expect_failures = [var.ordering_key]
}

run "parallelism_above_64" {
  command = plan
  variables {
    ordering_key = "message-id"
    parallelism  = 65
  }
  expect_failures = [var.parallelism]
}

run "parallelism_not_whole" {
  command = plan
  variables {
    ordering_key = "message-id"
    parallelism  = 2.5
  }
  expect_failures = [var.parallelism]
}

run "parallelism_without_an_ordering_key" {
  command = plan
  variables {
    parallelism = 16 # ordering_key stays "none"
  }
  expect_failures = [var.parallelism]
}
