################################################################################
# Dead letters: the messages the handler rejects, with their reasons
################################################################################

# Two dead-letter queues, for two kinds of failure:
# - this SQS queue receives the messages the handler itself rejects (undecodable, invalid, or
#   still failing on their last delivery), each with its reason; the handler sends them here
#   (DEAD_LETTER_QUEUE_URL) and the batch carries on;
# - <queue_name>.dlq on the broker, declared by the bootstrap (bootstrap.tf), receives what
#   the broker moves past the queue's delivery limit (delivery_limit): messages that crashed
#   or timed out the function on every delivery, which Lambda alone would retry forever.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.name}-dead-letters"
  message_retention_seconds = 1209600 # 14 days, the most SQS keeps a message
  sqs_managed_sse_enabled   = true
}

# Dead letters too large for an SQS message (the provider caps the queue at 256 KiB): the handler
# stores the body here and sends SQS a pointer in the Amazon SQS Extended Client's format, so
# standard tools and scripts/replay.py read both kinds. Private, encrypted, TLS only; an object
# outlives its pointer (SQS keeps a message 14 days).
resource "aws_s3_bucket" "dead_letters" {
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
  bucket                  = aws_s3_bucket.dead_letters.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id

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
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.dead_letters.arn, "${aws_s3_bucket.dead_letters.arn}/*"]

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
  bucket = aws_s3_bucket.dead_letters.id
  policy = data.aws_iam_policy_document.dead_letters_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.dead_letters]
}
