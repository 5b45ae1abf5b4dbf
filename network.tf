################################################################################
# Private mode (publicly_accessible = false): nothing here exists for a public broker
################################################################################

# The subnets, read to check at plan time that they are in vpc_id and in distinct zones
# (preconditions on aws_mq_broker.this).
data "aws_subnet" "broker" {
  for_each = toset(var.subnet_ids)
  id       = each.value
}

# The broker's security group. The event source mapping's poller creates its network
# interfaces in the broker's subnets with this same group, so the group lets itself in on
# 5671: that rule is what allows the poller to reach the broker.
resource "aws_security_group" "broker" {
  count = local.private ? 1 : 0

  name_prefix = "${local.name}-broker-"
  description = "Amazon MQ broker ${local.name}-broker and the Lambda poller network interfaces that share this group"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "broker_amqps_self" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "AMQPS from the Lambda poller network interfaces, which use this group"
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_security_group_egress_rule" "broker_amqps_self" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "AMQPS from the Lambda poller network interfaces to the broker"
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_security_group_egress_rule" "broker_to_endpoints" {
  count = local.private && var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "HTTPS from the Lambda poller network interfaces to the Lambda and Secrets Manager endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

# Without the endpoints above, the poller reaches Lambda and Secrets Manager through what the
# VPC already has (a NAT gateway, or endpoints of its own): HTTPS out, and nothing else.
resource "aws_vpc_security_group_egress_rule" "broker_https_out" {
  count = local.private && !var.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.broker[0].id
  description       = "HTTPS from the Lambda poller network interfaces to Lambda and Secrets Manager through the VPC's NAT gateway or existing endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# Clients inside the network (send.py over a VPN, say): AMQPS and the web console.
resource "aws_vpc_security_group_ingress_rule" "broker_clients" {
  for_each = local.private ? {
    for pair in setproduct(var.broker_ingress_cidr_blocks, [5671, 443]) : "${pair[0]}:${pair[1]}" => {
      cidr = pair[0]
      port = pair[1]
    }
  } : {}

  security_group_id = aws_security_group.broker[0].id
  description       = each.value.port == 5671 ? "AMQPS from clients in ${each.value.cidr}" : "RabbitMQ web console from clients in ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

# Interface endpoints, so the poller reaches Lambda and Secrets Manager without a NAT gateway.
# The Lambda guide ("Process Amazon MQ messages with Lambda", network configuration): an endpoint
# for Lambda, for Secrets Manager when the broker uses authentication, and for STS with ActiveMQ
# only. Private DNS makes
# the services' usual names resolve to them (the VPC needs DNS support and DNS hostnames).
resource "aws_security_group" "endpoints" {
  count = local.private && var.create_vpc_endpoints ? 1 : 0

  name_prefix = "${local.name}-endpoints-"
  description = "Interface VPC endpoints used by the Lambda poller of broker ${local.name}-broker"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_poller" {
  count = local.private && var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the Lambda poller network interfaces (broker security group)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_endpoint" "this" {
  for_each = local.private && var.create_vpc_endpoints ? toset(["lambda", "secretsmanager"]) : toset([])

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = {
    Name = "${local.name}-${each.key}"
  }
}
