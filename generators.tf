# The two values generated on the deployer's machine: the broker's admin password and the
# Lambda deployment package. The rest of the configuration reads only the three locals at the
# end of this file.

# Amazon MQ's rules: 12-250 characters, at least 4 distinct, none of , : =. Four character
# classes with one of each guarantee 4 distinct characters; the special characters are the
# URL-unreserved ones, so the password needs no escaping in an amqps:// URL either.
# main.tf checks the result against the same rules before the broker is created.
resource "random_password" "broker" {
  length           = 32
  min_lower        = 1
  min_upper        = 1
  min_numeric      = 1
  min_special      = 1
  override_special = "-_.~"
}

# The handler package only (src/rabbitmq_consumer, without __pycache__), at the zip root as
# rabbitmq_consumer/...; Powertools comes from the public layer. The file list is computed in
# main.tf (local.lambda_package_files) so that the tests check the same selection.
data "archive_file" "lambda" {
  type = "zip"
  # Entries from source blocks carry no timestamp or mode of the local files, so the same
  # package gives the same zip, and source hash, on every machine.
  output_path = "${path.module}/build/rabbitmq_consumer.zip"

  dynamic "source" {
    for_each = local.lambda_package_files
    content {
      content  = file("${local.lambda_package_dir}/${source.value}")
      filename = "rabbitmq_consumer/${source.value}"
    }
  }
}

locals {
  broker_password         = random_password.broker.result
  lambda_zip_path         = data.archive_file.lambda.output_path
  lambda_zip_base64sha256 = data.archive_file.lambda.output_base64sha256
}
