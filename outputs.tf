# What scripts/send.py, scripts/verify.py and a person need. No output exposes a password:
# send.py reads the publisher's from its secret (publisher_secret_arn) with the deployer's AWS
# credentials.

output "region" {
  description = "AWS region of every resource: var.region, or the one the AWS environment chose (AWS_REGION, the profile)."
  value       = local.region
}

output "broker_id" {
  description = "Amazon MQ broker id (b-...)."
  value       = aws_mq_broker.this.id
}

output "broker_arn" {
  description = "Amazon MQ broker ARN (the event source mapping's event source)."
  value       = aws_mq_broker.this.arn
}

output "broker_name" {
  description = "Amazon MQ broker name (the Broker dimension of its CloudWatch metrics)."
  value       = aws_mq_broker.this.broker_name
}

output "amqps_endpoint" {
  description = "The broker's AMQP 0-9-1 over TLS endpoint, e.g. amqps://b-xxx.mq.eu-west-1.on.aws:5671 (no credentials in it)."
  value       = [for endpoint in aws_mq_broker.this.instances[0].endpoints : endpoint if startswith(endpoint, "amqps://")][0]
}

output "console_url" {
  description = "The RabbitMQ web console; sign in with the credentials in the credentials_secret_arn secret."
  value       = aws_mq_broker.this.instances[0].console_url
}

output "credentials_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the broker's admin credentials as {\"username\", \"password\"}, for people and the bootstrap (the ARN only, never the value)."
  value       = aws_secretsmanager_secret.broker.arn
}

output "consumer_secret_arn" {
  description = "ARN of the secret holding the consumer user's credentials (read on the queue only), the event source mapping's BASIC_AUTH."
  value       = aws_secretsmanager_secret.consumer.arn
}

output "publisher_secret_arn" {
  description = "ARN of the secret holding the publisher user's credentials (write to the default exchange only), which send.py uses."
  value       = aws_secretsmanager_secret.publisher.arn
}

output "monitoring_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the monitoring user's credentials (the metrics function's), written by the bootstrap; null when enable_monitoring is false."
  value       = one(aws_secretsmanager_secret.monitoring[*].arn)
}

output "bootstrap_function_name" {
  description = "Name of the Lambda function that applies the queue topology and the users; its log group is /aws/lambda/<name>."
  value       = aws_lambda_function.admin["bootstrap"].function_name
}

output "max_message_size" {
  description = "Largest message body, in bytes, the broker accepts by default: 134217728 (128 MiB) on RabbitMQ 3.13, 524288 (512 KiB) on 4.x. send.py refuses larger bodies before publishing."
  value       = local.max_message_size
}

output "broker_log_group_name" {
  description = "CloudWatch log group of the broker's general logs. Amazon MQ creates it itself, without retention, and terraform destroy leaves it behind (docs/troubleshooting.md)."
  value       = "/aws/amazonmq/broker/${aws_mq_broker.this.id}/general"
}

output "queue_name" {
  description = "The queue the function consumes; the bootstrap declares it (quorum, a policy with the delivery limit and the dead-letter exchange <queue>.dlx to <queue>.dlq)."
  value       = var.queue_name
}

output "consumed_queues" {
  description = "The queues the function consumes, one event source mapping each: [queue_name], or the shard queues <queue_name>.shard-<i> (shard_count). The bootstrap declares them (quorum, the policy with the delivery limit and the dead-letter exchange <queue>.dlx to <queue>.dlq)."
  value       = local.consumed_queues
}

output "publish_exchange" {
  description = "The exchange publishers send to: \"\" (the default exchange, routing key queue_name) with one queue, or the consistent-hash exchange queue_name with shards, which hashes ordering_key (send.py sets it)."
  value       = var.shard_count == 1 ? "" : var.queue_name
}

output "ordering_key" {
  description = "What keeps messages in order (ordering_key): with shards the exchange hashes it; send.py sets its header when it is \"header:<name>\"."
  value       = var.ordering_key
}

output "virtual_host" {
  description = "The queue's virtual host."
  value       = var.virtual_host
}

output "delivery_limit" {
  description = "The queue's delivery limit (in the bootstrap's policy); the function has the same value as DELIVERY_LIMIT."
  value       = var.delivery_limit
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "log_group_name" {
  description = "CloudWatch log group of the function, e.g. for `aws logs tail <name> --follow`."
  value       = aws_cloudwatch_log_group.this.name
}

output "dead_letter_queue_url" {
  description = "URL of the SQS queue that receives the messages the handler rejects, with their reasons."
  value       = aws_sqs_queue.dead_letter.url
}

output "idempotency_table_name" {
  description = "DynamoDB table of the messages the function completed (one item per idempotency key, deleted by TTL after idempotency_ttl_days), e.g. to look up whether a message ran; null when enable_idempotency is false."
  value       = one(aws_dynamodb_table.idempotency[*].name)
}

output "dead_letter_bucket" {
  description = "S3 bucket holding the bodies of dead letters over 256 KiB (under dead-letters/); the SQS message then holds a pointer in the Amazon SQS Extended Client's format. replay.py reads both. null when enable_large_dead_letters is false."
  value       = one(aws_s3_bucket.dead_letters[*].id)
}

output "event_source_mapping_uuids" {
  description = "UUID of each event source mapping, by the queue it reads (queue_name, or each shard queue), e.g. for `aws lambda get-event-source-mapping --uuid <uuid>` (State, StateTransitionReason)."
  value       = { for mapping in aws_lambda_event_source_mapping.this : mapping.queues[0] => mapping.uuid }
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify, or null when alarm_email is not set (or enable_monitoring is false)."
  value       = one(aws_sns_topic.alarms[*].arn)
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms of this deployment (scripts/verify.py reads their states); empty when enable_monitoring is false."
  value       = local.alarms[*].alarm_name
}

output "dashboard_url" {
  description = "The CloudWatch dashboard of this deployment: queue depth and rates, consumers, invocations, errors, duration, batch sizes, dead letters and alarm states (docs/operations.md); null when enable_monitoring is false."
  value       = one([for dashboard in aws_cloudwatch_dashboard.this : "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${dashboard.dashboard_name}"])
}

output "metrics_function_name" {
  description = "Name of the Lambda function that publishes the queue metrics every minute (its log group: /aws/lambda/<name>), or null when enable_monitoring is false."
  value       = local.monitoring ? aws_lambda_function.admin["metrics"].function_name : null
}

output "rotation_function_name" {
  description = "Name of the Lambda function that rotates the consumer, publisher and monitoring credentials, or null when credential_rotation_days is null."
  value       = local.rotation_enabled ? aws_lambda_function.admin["rotation"].function_name : null
}
