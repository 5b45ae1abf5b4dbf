################################################################################
# Extra: idempotency, a DynamoDB table of the messages completed (docs/idempotency.md). The
# function reads the keys of a whole batch in one call and skips what an earlier, failed
# delivery of the batch had completed; it records each completion, 25 at a time, before the
# invocation ends. Off with enable_idempotency = false (no table; the function gets no
# IDEMPOTENCY_* settings and no leave to use one, and a retried batch runs every message again).
################################################################################

locals {
  idempotency = var.enable_idempotency

  # What the consumer function (main.tf) gets from this extra: the table and how to use it, and
  # leave to read and write records in that table only.
  idempotency_environment = local.idempotency ? {
    IDEMPOTENCY_TABLE       = aws_dynamodb_table.idempotency[0].name
    IDEMPOTENCY_KEY         = var.idempotency_key
    IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_days * 86400)
    IDEMPOTENCY_FAIL_OPEN   = tostring(var.idempotency_fail_open)
  } : {}
  idempotency_policies = data.aws_iam_policy_document.idempotency[*].json
}

# Items {key: <idempotency key>, expiresAt: <epoch seconds>}, one per completed message.
resource "aws_dynamodb_table" "idempotency" {
  count = local.idempotency ? 1 : 0

  name = "${local.name}-idempotency"
  # On demand: no capacity to plan, nothing to pay while no message flows; a batch reads and
  # writes in bursts of 100 keys.
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "key"

  attribute {
    name = "key"
    type = "S"
  }

  # DynamoDB deletes a record some time after it expires (within days); the function treats an
  # expired record still there as absent.
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  # Encrypted at rest with an AWS owned key: no server_side_encryption block. The records hold
  # message keys and times only; a KMS key would add its monthly fee, a charge per request and
  # kms:Decrypt for the function, and protect nothing more here.
  #checkov:skip=CKV_AWS_119:Encrypted at rest with an AWS owned key; the records hold message keys and expiry times only, and a customer-managed KMS key would add cost and kms permissions for no protection here.
  # No point-in-time recovery: a record only keeps a retried batch from running a message twice,
  # for a few days. A restore makes a new table hours later, long after the retries it would
  # have guarded, and PITR bills the table's size every month.
  #checkov:skip=CKV_AWS_28:Point-in-time recovery would restore, hours later into a new table, records that only matter during the minutes a batch is retried and expire within days.
  #checkov:skip=CKV2_AWS_16:On-demand capacity (PAY_PER_REQUEST) scales by itself; auto scaling applies to provisioned tables only.
}

# The consumer's leave to read and record completions, in this table only (merged into its
# policy, main.tf). The Service Authorization Reference ("Actions, resources, and condition keys
# for Amazon DynamoDB") lists BatchGetItem and BatchWriteItem each with the table as their only
# resource and no dependent actions: no GetItem or PutItem is needed beside them.
data "aws_iam_policy_document" "idempotency" {
  count = local.idempotency ? 1 : 0

  statement {
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"]
    resources = [aws_dynamodb_table.idempotency[0].arn]
  }
}
