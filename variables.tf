################################################################################
# General
################################################################################

variable "region" {
  description = "AWS region to deploy to, a commercial one (the Powertools layer is published there by account 017000801446). null (the default): the region of your AWS environment (AWS_REGION, else the profile's), as the AWS CLI chooses it."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || (can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region)) && !can(regex("^(cn|us-gov|us-iso[a-z]*|eu-isoe)-", var.region)))
    error_message = "region must be a commercial AWS region such as eu-west-1 or us-east-1 (or null for your AWS environment's): the Powertools layers for China, GovCloud and isolated regions come from other accounts, which this configuration does not handle."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, so that two deployments in one account do not collide. 2-32 characters: letters, digits and hyphens, starting with a letter."
  type        = string
  default     = "rabbitmq-lambda"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,30}[A-Za-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-32 characters of letters, digits and hyphens, start with a letter and not end with a hyphen (it prefixes the broker name, which allows 50 characters), e.g. \"rabbitmq-lambda-dev\"."
  }
}

variable "tags" {
  description = "Tags applied to every resource that supports tags (through the provider's default_tags)."
  type        = map(string)
  default = {
    Project = "rabbitmq-lambda-consumer"
  }
}

################################################################################
# Broker
################################################################################

variable "engine_version" {
  description = "RabbitMQ version, major.minor only: \"3.13\", \"4.2\" or \"4.3\" (4.x runs only on mq.m7g.* instance types). Queue metrics, alarms and the dashboard work the same on every version (the metrics function reads the management API). 3.13 is the default: the smallest instance type, mq.m5 types and 128 MiB messages are 3.13 only; 4.x brings newer quorum queues."
  type        = string
  default     = "3.13"

  validation {
    condition     = contains(["3.13", "4.2", "4.3"], var.engine_version)
    error_message = "engine_version must be \"3.13\", \"4.2\" or \"4.3\" (major.minor only: Amazon MQ applies the patch versions itself; 3.12 and older are out of support)."
  }

  validation {
    condition     = !startswith(var.engine_version, "4.") || startswith(var.instance_type, "mq.m7g.")
    error_message = "RabbitMQ 4.x runs only on mq.m7g.* instance types on Amazon MQ: set instance_type to an mq.m7g.* type such as mq.m7g.medium or mq.m7g.large, or use engine_version = \"3.13\"."
  }
}

variable "instance_type" {
  description = "Broker instance type: mq.m7g.* (medium to 16xlarge; every engine version) or mq.m5.* (large to 4xlarge; 3.13 only). The default mq.m7g.medium is the smallest type Amazon MQ accepts for a new RabbitMQ broker, sized by AWS for evaluation; choose mq.m7g.large or larger for production."
  type        = string
  default     = "mq.m7g.medium"

  validation {
    condition     = !startswith(var.instance_type, "mq.t3.")
    error_message = "Amazon MQ refuses mq.t3.* for new RabbitMQ brokers (\"Broker engine type [RabbitMQ] does not support host instance type\"): use mq.m7g.medium, the smallest type it accepts, or mq.m7g.large for production."
  }

  validation {
    condition     = startswith(var.instance_type, "mq.t3.") || can(regex("^mq\\.(m5\\.(large|xlarge|2xlarge|4xlarge)|m7g\\.(medium|large|xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge))$", var.instance_type))
    error_message = "instance_type must be an mq.m7g.* type (medium, large, xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge or 16xlarge) or an mq.m5.* type (large, xlarge, 2xlarge or 4xlarge), e.g. mq.m7g.medium: the RabbitMQ instance types Amazon MQ supports."
  }
}

variable "deployment_mode" {
  description = "SINGLE_INSTANCE (one node, unavailable during its maintenance window) or CLUSTER_MULTI_AZ (three nodes in three availability zones)."
  type        = string
  default     = "SINGLE_INSTANCE"

  validation {
    condition     = contains(["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"], var.deployment_mode)
    error_message = "deployment_mode must be SINGLE_INSTANCE or CLUSTER_MULTI_AZ (ACTIVE_STANDBY_MULTI_AZ is ActiveMQ only)."
  }
}

variable "auto_minor_version_upgrade" {
  description = "Let Amazon MQ apply new patch versions in the maintenance window. Amazon MQ requires true for RabbitMQ 3.13 and later, i.e. every version this configuration accepts."
  type        = bool
  default     = true

  validation {
    condition     = var.auto_minor_version_upgrade
    error_message = "Amazon MQ requires auto_minor_version_upgrade = true for RabbitMQ 3.13 and later, which are the only versions it offers for new brokers: set auto_minor_version_upgrade = true."
  }
}

variable "maintenance_window" {
  description = "Weekly start of the broker's maintenance window. A SINGLE_INSTANCE broker is unavailable during it, and no messages are consumed then."
  type = object({
    day_of_week = string
    time_of_day = string
    time_zone   = optional(string, "UTC")
  })
  default = {
    day_of_week = "SUNDAY"
    time_of_day = "03:00"
  }

  validation {
    condition     = contains(["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"], var.maintenance_window.day_of_week)
    error_message = "maintenance_window.day_of_week must be a day name in capitals, e.g. \"SUNDAY\"."
  }

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window.time_of_day))
    error_message = "maintenance_window.time_of_day must be HH:MM in 24-hour time, e.g. \"03:00\"."
  }
}

variable "apply_immediately" {
  description = "Apply broker changes now instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "broker_username" {
  description = "The broker's admin user (the only user Amazon MQ creates; for people and the bootstrap function). 2-100 characters: letters, digits, '-', '.', '_'; not \"guest\". Its password is generated. Set at creation only: Amazon MQ cannot change RabbitMQ users later, so a new value changes nothing on an existing broker (docs/security.md says how to change a user or password)."
  type        = string
  default     = "admin"

  validation {
    condition     = length(var.broker_username) >= 2 && length(var.broker_username) <= 100
    error_message = "broker_username must be 2-100 characters long, e.g. \"admin\"."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]*$", var.broker_username))
    error_message = "broker_username may contain only letters, digits, '-', '.' and '_' (Amazon MQ for RabbitMQ refuses anything else, including '~'), e.g. \"admin\" or \"consumer_admin\"."
  }

  validation {
    condition     = lower(var.broker_username) != "guest"
    error_message = "broker_username must not be \"guest\": Amazon MQ deletes that user. Choose another name, e.g. \"admin\"."
  }
}

variable "consumer_username" {
  description = "RabbitMQ user of the event source mapping, created by the bootstrap with read permission on queue_name only. 2-100 characters: letters, digits, '-', '.', '_'."
  type        = string
  default     = "lambda-consumer"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{2,100}$", var.consumer_username)) && !contains(["guest", var.broker_username], var.consumer_username)
    error_message = "consumer_username must be 2-100 letters, digits, '-', '.' or '_', and neither \"guest\" nor broker_username: e.g. \"lambda-consumer\"."
  }
}

variable "consumer_configure_permission" {
  description = "Also grant the consumer user configure on its queue (the bootstrap applies it). AWS does not document whether Lambda's poller declares the queue passively (no permission needed) or not (configure needed): keep false unless make verify or the mapping reports EVENT_SOURCE_AUTHZ_ERROR."
  type        = bool
  default     = false
}

variable "publisher_username" {
  description = "RabbitMQ user of scripts/send.py, created by the bootstrap with write permission on the default exchange only. 2-100 characters: letters, digits, '-', '.', '_'."
  type        = string
  default     = "publisher"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{2,100}$", var.publisher_username)) && !contains(["guest", var.broker_username, var.consumer_username], var.publisher_username)
    error_message = "publisher_username must be 2-100 letters, digits, '-', '.' or '_', and none of \"guest\", broker_username and consumer_username: e.g. \"publisher\"."
  }
}

variable "monitoring_username" {
  description = "RabbitMQ user of the queue-metrics function, created by the bootstrap with the monitoring tag and no queue permissions (with enable_monitoring only). 2-100 characters: letters, digits, '-', '.', '_'."
  type        = string
  default     = "queue-metrics"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{2,100}$", var.monitoring_username)) && !contains(["guest", var.broker_username, var.consumer_username, var.publisher_username], var.monitoring_username)
    error_message = "monitoring_username must be 2-100 letters, digits, '-', '.' or '_', and none of \"guest\", broker_username, consumer_username and publisher_username: e.g. \"queue-metrics\"."
  }

  # Rotation alternates each user with <name>_clone: no user may be another's clone.
  validation {
    condition = length(setintersection(
      [var.broker_username, var.consumer_username, var.publisher_username, var.monitoring_username],
      [for name in [var.consumer_username, var.publisher_username, var.monitoring_username] : "${name}_clone"],
    )) == 0
    error_message = "No user name may be another's name followed by \"_clone\" (the credential rotation alternates each user with <name>_clone): choose names such as \"lambda-consumer\", \"publisher\" and \"queue-metrics\"."
  }
}

variable "credential_rotation_days" {
  description = "Extra (credential_rotation.tf): rotate the users' credentials every this many days (1-1000), alternating users so that nothing ever holds a password the broker no longer accepts; the first rotation comes after this many days. 30 by default: a leaked password then works for at most two rotations. null: no rotation function, no schedule, no alarm."
  type        = number
  default     = 30

  validation {
    condition     = var.credential_rotation_days == null || try(var.credential_rotation_days >= 1 && var.credential_rotation_days <= 1000 && floor(var.credential_rotation_days) == var.credential_rotation_days, false)
    error_message = "credential_rotation_days must be a whole number of days from 1 to 1000 (Secrets Manager's AutomaticallyAfterDays), or null to turn rotation off: e.g. 30."
  }
}

variable "secret_recovery_window_in_days" {
  description = "Days Secrets Manager keeps the credentials secret after destroy (0 deletes it at once, so destroy removes everything and the name can be reused; 7-30 keeps it recoverable)."
  type        = number
  default     = 0

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 (delete at once) or between 7 and 30."
  }
}

################################################################################
# Network: public (default) or private broker
################################################################################

variable "publicly_accessible" {
  description = "true: the broker gets a public endpoint (TLS only, password protected) so scripts/send.py can publish from a laptop. false: the private-network extra (private_network.tf), the broker lives in subnet_ids of vpc_id, reached by the poller and the admin functions inside the VPC."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "Private mode only: the VPC of subnet_ids (needs DNS support and DNS hostnames for the interface endpoints)."
  type        = string
  default     = null

  validation {
    condition     = var.publicly_accessible ? var.vpc_id == null : var.vpc_id != null
    error_message = "vpc_id goes with private mode only: with publicly_accessible = false set vpc_id (and subnet_ids); with publicly_accessible = true leave vpc_id unset."
  }
}

variable "subnet_ids" {
  description = "Private mode only: the broker's subnets, each in a different availability zone. SINGLE_INSTANCE takes exactly one; CLUSTER_MULTI_AZ at least one (three, one per zone, is usual). The interface endpoints go into the same subnets."
  type        = list(string)
  default     = []

  validation {
    condition     = var.publicly_accessible ? length(var.subnet_ids) == 0 : length(var.subnet_ids) > 0
    error_message = "subnet_ids goes with private mode only: with publicly_accessible = false give the broker's subnets (and vpc_id); with publicly_accessible = true leave subnet_ids empty."
  }

  validation {
    condition     = var.publicly_accessible || var.deployment_mode != "SINGLE_INSTANCE" || length(var.subnet_ids) <= 1
    error_message = "A SINGLE_INSTANCE broker takes exactly one subnet: give one subnet in subnet_ids, or use deployment_mode = \"CLUSTER_MULTI_AZ\" for several."
  }

  validation {
    condition     = length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids contains a subnet twice: list each subnet once, one per availability zone."
  }
}

variable "vpc_endpoint_services" {
  description = "Private mode only: the interface VPC endpoints (with private DNS) to create in subnet_ids, so that the event source mapping's poller and the admin functions reach AWS without a NAT gateway: any of \"lambda\", \"secretsmanager\" and \"sts\" (about $7 a month each per availability zone). Leave out a service whose endpoint the VPC already has with private DNS (a second one fails: conflicting DNS domain); [] when a NAT gateway reaches all three."
  type        = set(string)
  default     = ["lambda", "secretsmanager", "sts"]

  validation {
    condition     = length(setsubtract(var.vpc_endpoint_services, ["lambda", "secretsmanager", "sts"])) == 0
    error_message = "vpc_endpoint_services may hold only \"lambda\", \"secretsmanager\" and \"sts\" (what the poller and the admin functions call): e.g. [\"lambda\", \"secretsmanager\", \"sts\"], or [] behind a NAT gateway."
  }
}

# Replaced by vpc_endpoint_services; declared only so that an old setting fails the plan instead of
# being ignored with a warning (Terraform only warns about values for undeclared variables).
variable "create_vpc_endpoints" {
  description = "Removed: use vpc_endpoint_services ([] for false). Any value but null fails the plan."
  type        = bool
  default     = null

  validation {
    condition     = var.create_vpc_endpoints == null
    error_message = "create_vpc_endpoints was replaced by vpc_endpoint_services: remove it, and set vpc_endpoint_services = [] where it was false, or list the endpoints the VPC lacks (\"lambda\", \"secretsmanager\", \"sts\")."
  }
}

variable "broker_ingress_cidr_blocks" {
  description = "Private mode only: client networks (e.g. a VPN range) allowed to reach the broker on 5671 (AMQPS) and 443 (web console). The poller needs no entry here."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.broker_ingress_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "broker_ingress_cidr_blocks must hold IPv4 CIDR blocks such as \"10.0.0.0/16\"."
  }

  validation {
    condition     = !var.publicly_accessible || length(var.broker_ingress_cidr_blocks) == 0
    error_message = "broker_ingress_cidr_blocks applies to private mode only (Amazon MQ gives a public RabbitMQ broker no security group): remove it, or set publicly_accessible = false."
  }
}

################################################################################
# Queue (declared by the bootstrap function, src/rabbitmq_admin)
################################################################################

variable "queue_name" {
  description = "The queue the function consumes (one per event source mapping). The bootstrap declares it as a quorum queue with its dead-letter queue <queue_name>.dlq."
  type        = string
  default     = "orders"

  validation {
    condition     = length(var.queue_name) >= 1 && length(var.queue_name) <= 200 && !startswith(var.queue_name, "amq.")
    error_message = "queue_name must be 1-200 characters and must not start with \"amq.\" (reserved by RabbitMQ), e.g. \"orders\"."
  }

  # The metrics function gets the work queue and its dead-letter queue as one comma-separated
  # list (QUEUES, monitoring.tf).
  validation {
    condition     = !strcontains(var.queue_name, ",")
    error_message = "queue_name must not contain a comma: the queue-metrics function receives its queues as a comma-separated list. Choose a name without one, e.g. \"orders\" or \"orders-eu\"."
  }
}

variable "virtual_host" {
  description = "The queue's virtual host. The event source mapping cannot change it in place: a change replaces the mapping."
  type        = string
  default     = "/"

  validation {
    condition     = length(var.virtual_host) >= 1 && length(var.virtual_host) <= 255
    error_message = "virtual_host must be 1-255 characters; the broker's default virtual host is \"/\"."
  }
}

variable "delivery_limit" {
  description = "The queue's delivery limit: after this many deliveries the broker moves a message to <queue_name>.dlq. The bootstrap sets it in a policy (a change applies without recreating the queue), and the function reads it as DELIVERY_LIMIT."
  type        = number
  default     = 20

  validation {
    condition     = var.delivery_limit >= 1 && floor(var.delivery_limit) == var.delivery_limit
    error_message = "delivery_limit must be a whole number of at least 1 (20 is RabbitMQ 4's default for quorum queues)."
  }
}

################################################################################
# Event source mapping
################################################################################

variable "batch_size" {
  description = "Most messages in one invocation (1-10,000)."
  type        = number
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10000 (Lambda's limit for Amazon MQ); 100 is Lambda's default."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Longest wait, in whole seconds (0-300), to fill a batch before invoking. null keeps Lambda's default (0.5 s for Amazon MQ)."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_batching_window_in_seconds == null ? true : var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "maximum_batching_window_in_seconds must be a whole number from 0 to 300, or null for Lambda's default of 0.5 s."
  }
}

variable "event_source_mapping_enabled" {
  description = "false stops consuming (the mapping stays, messages wait in the queue)."
  type        = bool
  default     = true
}

################################################################################
# Throughput: parallel lanes within a batch (docs/throughput.md)
################################################################################

variable "ordering_key" {
  description = "What keeps messages in order when a batch runs on parallel lanes (the function's ORDERING_KEY): \"none\" (one lane, the whole batch in delivery order), \"header:<name>\" (an AMQP header, e.g. \"header:customer-id\": one key's messages in order, different keys at the same time), \"json:<path>\" (a field of a JSON body, dots between names) or \"message-id\" (no order kept)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "message-id"], var.ordering_key) || can(regex("^header:[^\\s]{1,255}$", var.ordering_key)) || can(regex("^json:[^.\\s]+(\\.[^.\\s]+)*$", var.ordering_key))
    error_message = "ordering_key must be \"none\", \"message-id\", \"header:<name>\" (e.g. \"header:customer-id\") or \"json:<path>\" (e.g. \"json:customerId\", dots between field names)."
  }
}

variable "parallelism" {
  description = "How many lanes of a batch run at once (1-64; the function's PARALLELISM). 1, the default, runs the batch one message after another, correct for any business logic; above 1, process() runs on several threads and must be thread-safe (docs/throughput.md), and ordering_key must say what to keep in order."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelism >= 1 && var.parallelism <= 64 && floor(var.parallelism) == var.parallelism
    error_message = "parallelism must be a whole number from 1 to 64: above 64 threads contend for one function's CPU share; split the traffic over shards instead (shard_count)."
  }

  validation {
    condition     = var.parallelism == 1 || var.ordering_key != "none"
    error_message = "parallelism above 1 needs an ordering_key to split batches into lanes: set ordering_key to \"header:<name>\" or \"json:<path>\" (each key's messages keep their order), or \"message-id\" (no order kept)."
  }
}

################################################################################
# Throughput: shards, N queues with a mapping each (docs/sharding.md)
################################################################################

variable "shard_count" {
  description = "How many queues share the work (1-10), each read by its own event source mapping and so by its own invocation at a time. Above 1, a consistent-hash exchange named queue_name sends each message, by its ordering_key (a header, or the message id), to one of the quorum queues <queue_name>.shard-0 to <queue_name>.shard-<N-1>: one key's messages stay on one queue, in order. 1, the default, is the one queue queue_name and nothing more. A change moves some keys to another queue; the bootstrap moves the messages of a queue no longer read to the others (docs/sharding.md)."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 10 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number from 1 to 10: the total-backlog alarm and the no-consumer alarm read every shard's metric, and a CloudWatch alarm reads at most 10 (PutMetricAlarm); each shard is also a mapping whose poller holds broker connections (300 in all on mq.m7g.medium). For more per shard, raise parallelism (docs/throughput.md)."
  }

  validation {
    condition     = var.shard_count == 1 || var.ordering_key == "message-id" || startswith(var.ordering_key, "header:")
    error_message = "shard_count above 1 needs an ordering_key the exchange can hash: set ordering_key to \"header:<name>\" (e.g. \"header:customer-id\": each key's messages on one shard, in order) or \"message-id\" (spread evenly, no order kept). A \"json:<path>\" key is in the body, which the exchange cannot read; \"none\" names no key."
  }
}

################################################################################
# Lambda function
################################################################################

variable "lambda_runtime" {
  description = "Python runtime: python3.12 or python3.13 (a Powertools V3 layer exists for both)."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be \"python3.12\" or \"python3.13\"."
  }
}

variable "lambda_architecture" {
  description = "arm64 (Graviton, cheaper per GB-second) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "powertools_layer_version" {
  description = "Version of AWS's public layer AWSLambdaPowertoolsPythonV3-<runtime>-<architecture>. The default is the one Powertools' installation page documents for every commercial region, both architectures and both runtimes; the newest is in SSM at /aws/service/powertools/python/<architecture>/<runtime>/latest."
  type        = number
  default     = 27

  validation {
    condition     = var.powertools_layer_version >= 1 && floor(var.powertools_layer_version) == var.powertools_layer_version
    error_message = "powertools_layer_version must be a whole number of at least 1 (the number at the end of the layer ARN)."
  }
}

variable "lambda_memory_size" {
  description = "Function memory in MB (128-10,240); CPU grows with it."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 && floor(var.lambda_memory_size) == var.lambda_memory_size
    error_message = "lambda_memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "lambda_timeout" {
  description = "Function timeout in seconds; at most 840 (14 minutes), the limit for Amazon MQ event sources."
  type        = number
  default     = 60

  validation {
    condition     = var.lambda_timeout >= 1 && var.lambda_timeout <= 840 && floor(var.lambda_timeout) == var.lambda_timeout
    error_message = "lambda_timeout must be 1-840 seconds: Lambda allows at most 14 minutes for functions with an Amazon MQ event source."
  }
}

variable "log_level" {
  description = "POWERTOOLS_LOG_LEVEL of the function: DEBUG, INFO, WARNING, ERROR or CRITICAL."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group, in days (one of the values CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "service_name" {
  description = "POWERTOOLS_SERVICE_NAME: the service name on the function's logs and metrics."
  type        = string
  default     = "rabbitmq-consumer"
}

variable "metrics_namespace" {
  description = "POWERTOOLS_METRICS_NAMESPACE: the CloudWatch namespace of the function's metrics (BatchSize, Processed, DeadLettered)."
  type        = string
  default     = "RabbitMQConsumer"
}

################################################################################
# Extras: monitoring, large dead letters and idempotency (private networking: publicly_accessible;
# credential rotation: credential_rotation_days)
################################################################################

variable "enable_monitoring" {
  description = "Extra (monitoring.tf): the queue-metrics function and its monitoring user, the alarms (consumer errors, dead letters, backlog, no consumer, a silent monitor, failed rotations) and the dashboard. On by default: without it nobody learns that messages pile up in a dead-letter queue or that the poller stopped (about $10 a month with the secrets, docs/operations.md)."
  type        = bool
  default     = true
}

variable "enable_large_dead_letters" {
  description = "Extra (large_dead_letters.tf): an S3 bucket for dead letters over 256 KiB (SQS then holds a pointer). On by default: no dead letter is too large to keep. false: dead letters up to SQS's 1 MiB still go to SQS, a larger one fails the invocation until the broker moves it to <queue_name>.dlq."
  type        = bool
  default     = true
}

variable "enable_idempotency" {
  description = "Extra (idempotency.tf): a DynamoDB table of completed messages, read once per batch, so that a batch Lambda retries after a failure skips every message that had completed (docs/idempotency.md). On by default: without it each failed invocation runs its batch's completed messages again; about $0.76 per million messages on demand, nothing while none flows. false: no table, business logic must absorb duplicates itself."
  type        = bool
  default     = true
}

variable "idempotency_key" {
  description = "With enable_idempotency: what names a message once (the function's IDEMPOTENCY_KEY): \"message-id\" (the AMQP message id, which send.py always sets), \"header:<name>\" (an AMQP header) or \"json:<path>\" (a field of a JSON body, dots between names, e.g. \"json:orderId\"). A message without it is processed unchecked and counted (NoIdempotencyKey)."
  type        = string
  default     = "message-id"

  validation {
    condition     = var.idempotency_key == "message-id" || can(regex("^header:.+$", var.idempotency_key)) || can(regex("^json:[^.]+(\\.[^.]+)*$", var.idempotency_key))
    error_message = "idempotency_key must be \"message-id\", \"header:<name>\" (e.g. \"header:order-id\") or \"json:<path>\" (e.g. \"json:orderId\" or \"json:order.id\", no empty names between the dots)."
  }
}

variable "idempotency_ttl_days" {
  description = "With enable_idempotency: days a completion is remembered (1-365), after which DynamoDB's TTL deletes the record. 7 by default: retries come within minutes, but the batch-mates the broker moves to <queue_name>.dlq with a crashing message may be replayed after a weekend, and a week of records costs cents."
  type        = number
  default     = 7

  validation {
    condition     = var.idempotency_ttl_days >= 1 && var.idempotency_ttl_days <= 365 && floor(var.idempotency_ttl_days) == var.idempotency_ttl_days
    error_message = "idempotency_ttl_days must be a whole number of days from 1 to 365: long enough to outlast retries and replays (7 is the default), short enough that the table does not keep every message for ever."
  }
}

variable "idempotency_fail_open" {
  description = "With enable_idempotency: true processes a batch without the check when the table cannot be read (duplicates possible while DynamoDB is unreachable); false, the default, fails the invocation so Lambda retries the batch (nothing runs twice, messages wait)."
  type        = bool
  default     = false
}

variable "backlog_alarm_threshold" {
  description = "With enable_monitoring: alarm when the queue holds more than this many ready messages for 15 minutes."
  type        = number
  default     = 1000

  validation {
    condition     = var.backlog_alarm_threshold >= 0
    error_message = "backlog_alarm_threshold must be 0 or more messages."
  }
}

variable "create_poller_stopped_alarm" {
  description = "With enable_monitoring: alarm when the queue has had no consumer for 10 minutes, i.e. the mapping's poller is gone (its state tells why, e.g. EVENT_SOURCE_AUTHN_ERROR after a password change). Created only while the mapping is enabled."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "With enable_monitoring: email address notified by the alarms through a new SNS topic (confirm the subscription email). null: alarms without notifications."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null ? true : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an email address such as ops@example.com, or null for no notifications."
  }

  validation {
    condition     = var.alarm_email == null || var.enable_monitoring
    error_message = "alarm_email needs the alarms of enable_monitoring = true: set enable_monitoring = true, or remove alarm_email."
  }
}
