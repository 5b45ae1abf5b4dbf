# The two values generated on the deployer's machine: the broker's admin password and the
# Lambda deployment packages. The rest of the configuration reads only the locals at the end
# of this file.

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

# The Lambda packages (local.lambda_packages in main.tf: the consumer handler and the broker
# bootstrap), each zipped alone from src/<package>, without __pycache__, as <package>/...;
# Powertools comes from the public layer. The file lists are computed in main.tf so that the
# tests check the same selection.
data "archive_file" "lambda" {
  for_each = local.lambda_packages

  type = "zip"
  # Entries from source blocks carry no timestamp or mode of the local files, so the same
  # package gives the same zip, and source hash, on every machine.
  output_path = "${path.module}/build/${each.value}.zip"

  dynamic "source" {
    for_each = local.lambda_package_files[each.key]
    content {
      content  = file("${path.module}/src/${each.value}/${source.value}")
      filename = "${each.value}/${source.value}"
    }
  }
}

locals {
  broker_password = random_password.broker.result
  lambda_zip = {
    for key, zip in data.archive_file.lambda : key => {
      path         = zip.output_path
      base64sha256 = zip.output_base64sha256
    }
  }
}
