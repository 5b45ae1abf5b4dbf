################################################################################
# Extra: large dead letters, kept in S3 (with the bucket, a body over 256 KiB goes there and
# SQS gets a pointer).
# Off with enable_large_dead_letters = false (no bucket; the function gets no DEAD_LETTER_BUCKET,
# dead letters up to SQS's 1 MiB still go to SQS, and a larger one fails the invocation, so the
# broker redelivers it and, past delivery_limit, moves it to <queue_name>.dlq).
################################################################################

# The handler stores the body here and sends SQS a pointer in the Amazon SQS Extended Client's
# format, so standard tools and scripts/replay.py read both kinds. Private, encrypted, TLS only;
# an object outlives its pointer (SQS keeps a message 14 days).

locals {
  large_dead_letters = var.enable_large_dead_letters

  # What the consumer function (main.tf) gets from this extra: the bucket's name, and leave to
  # write dead letters under dead-letters/ only.
  large_dead_letters_environment = local.large_dead_letters ? { DEAD_LETTER_BUCKET = aws_s3_bucket.dead_letters[0].id } : {}
  large_dead_letters_policies    = data.aws_iam_policy_document.large_dead_letters[*].json
}

resource "aws_s3_bucket" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket_prefix = "${lower(local.name)}-dl-"
  # destroy removes the dead letters with the bucket, as it removes the SQS queue's messages.
  force_destroy = true

  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket for the logs; the objects are written by one function and read by replay.py only.
  #checkov:skip=CKV_AWS_21:Versioning would keep every replayed dead letter: replay.py deletes an object once the broker confirmed its message.
  #checkov:skip=CKV_AWS_144:Cross-region replication of dead letters that live at most 15 days is beyond this reference.
  #checkov:skip=CKV_AWS_145:Encrypted with S3-managed keys (SSE-S3); a customer-managed KMS key adds cost and kms:GenerateDataKey for the function.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new dead letters here: the SQS pointer is the notification, and the dead-letter alarm watches that queue.
}

resource "aws_s3_bucket_public_access_block" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket                  = aws_s3_bucket.dead_letters[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket = aws_s3_bucket.dead_letters[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket = aws_s3_bucket.dead_letters[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket = aws_s3_bucket.dead_letters[0].id

  rule {
    id     = "expire-dead-letters"
    status = "Enabled"
    filter {
      prefix = "dead-letters/"
    }
    # One day longer than SQS keeps the pointer, so no pointer outlives its body.
    expiration {
      days = 15
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "dead_letters_bucket" {
  count = local.large_dead_letters ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.dead_letters[0].arn, "${aws_s3_bucket.dead_letters[0].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  bucket = aws_s3_bucket.dead_letters[0].id
  policy = data.aws_iam_policy_document.dead_letters_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.dead_letters]
}

# The consumer's leave to store a body, under dead-letters/ only (merged into its policy, main.tf).
data "aws_iam_policy_document" "large_dead_letters" {
  count = local.large_dead_letters ? 1 : 0

  statement {
    sid       = "OffloadLargeDeadLetters"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.dead_letters[0].arn}/dead-letters/*"]
  }
}
