# The idempotency extra (idempotency.tf): the table as the function's store needs it, the
# function's settings and its leave to use that table only, each setting validated as the
# handler validates it, and enable_idempotency = false removing all of it.
#
# Run with: terraform init && terraform test -test-directory=tests/terraform

mock_provider "aws" {
  source = "./tests/terraform/mocks"
}
mock_provider "random" {}
mock_provider "archive" {}

# The table's ARN as AWS would return it, known at plan time so the IAM statement can be compared.
override_resource {
  target          = aws_dynamodb_table.idempotency
  override_during = plan
  values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/rabbitmq-lambda-idempotency" }
}

run "the_table_by_default" {
  command = plan

  assert {
    condition = (
      aws_dynamodb_table.idempotency[0].name == "rabbitmq-lambda-idempotency" &&
      aws_dynamodb_table.idempotency[0].billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.idempotency[0].hash_key == "key" &&
      aws_dynamodb_table.idempotency[0].range_key == null &&
      [for a in aws_dynamodb_table.idempotency[0].attribute : "${a.name}:${a.type}"] == ["key:S"]
    )
    error_message = "The table must be on demand with the partition key `key` (a string) the function reads and writes, and no sort key."
  }
  assert {
    condition     = aws_dynamodb_table.idempotency[0].ttl[0].enabled && aws_dynamodb_table.idempotency[0].ttl[0].attribute_name == "expiresAt"
    error_message = "DynamoDB's TTL must delete records by expiresAt, the attribute the function writes."
  }
  assert {
    condition     = length(aws_dynamodb_table.idempotency[0].server_side_encryption) == 0 && length(aws_dynamodb_table.idempotency[0].point_in_time_recovery) == 0
    error_message = "The table is encrypted with an AWS owned key (no server_side_encryption block) and has no point-in-time recovery (idempotency.tf says why)."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_TABLE"] == "rabbitmq-lambda-idempotency" &&
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_KEY"] == "message-id" &&
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_TTL_SECONDS"] == "604800" &&
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_FAIL_OPEN"] == "false"
    )
    error_message = "By default the function must check the table by message id, remember completions 7 days and fail closed."
  }
  assert {
    condition = (
      length(data.aws_iam_policy_document.idempotency[0].statement) == 1 &&
      toset(data.aws_iam_policy_document.idempotency[0].statement[0].actions) == toset(["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"]) &&
      toset(data.aws_iam_policy_document.idempotency[0].statement[0].resources) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/rabbitmq-lambda-idempotency"])
    )
    error_message = "The function may read and write records in batches, in its own table only."
  }
  assert {
    condition     = output.idempotency_table_name == "rabbitmq-lambda-idempotency"
    error_message = "The output idempotency_table_name must name the table."
  }
}

run "the_settings_reach_the_function" {
  command = plan
  variables {
    idempotency_key       = "json:order.id"
    idempotency_ttl_days  = 30
    idempotency_fail_open = true
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_KEY"] == "json:order.id" &&
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_TTL_SECONDS"] == "2592000" &&
      aws_lambda_function.this.environment[0].variables["IDEMPOTENCY_FAIL_OPEN"] == "true"
    )
    error_message = "idempotency_key, idempotency_ttl_days (in seconds) and idempotency_fail_open must reach the function."
  }
}

run "a_header_key_and_the_ttl_limits" {
  command = plan
  variables {
    idempotency_key      = "header:x-order id"
    idempotency_ttl_days = 365
  }
}

run "without_idempotency" {
  command = plan
  variables {
    enable_idempotency = false
  }

  assert {
    condition     = length(aws_dynamodb_table.idempotency) == 0 && length(data.aws_iam_policy_document.idempotency) == 0
    error_message = "Without idempotency there must be no table, and no leave to use one."
  }
  assert {
    condition     = !anytrue([for name in keys(aws_lambda_function.this.environment[0].variables) : startswith(name, "IDEMPOTENCY_")])
    error_message = "Without idempotency the function must get no IDEMPOTENCY_* setting (it then checks nothing)."
  }
  assert {
    condition     = output.idempotency_table_name == null
    error_message = "Without idempotency the output idempotency_table_name must be null."
  }
}

run "a_key_the_handler_would_refuse" {
  command = plan
  variables {
    idempotency_key = "orderId" # neither message-id nor header:<name> nor json:<path>
  }
  expect_failures = [var.idempotency_key]
}

run "an_empty_header_name" {
  command = plan
  variables {
    idempotency_key = "header:"
  }
  expect_failures = [var.idempotency_key]
}

run "an_empty_name_in_a_json_path" {
  command = plan
  variables {
    idempotency_key = "json:order..id"
  }
  expect_failures = [var.idempotency_key]
}

run "no_ttl" {
  command = plan
  variables {
    idempotency_ttl_days = 0
  }
  expect_failures = [var.idempotency_ttl_days]
}

run "a_ttl_over_a_year" {
  command = plan
  variables {
    idempotency_ttl_days = 366
  }
  expect_failures = [var.idempotency_ttl_days]
}

run "a_ttl_in_part_days" {
  command = plan
  variables {
    idempotency_ttl_days = 1.5
  }
  expect_failures = [var.idempotency_ttl_days]
}
