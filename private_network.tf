################################################################################
# Extra: private networking, the broker in your VPC.
# On with publicly_accessible = false (with vpc_id and subnet_ids); nothing here exists for a
# public broker.
################################################################################

# EC2 accepts only a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$* in security group and rule
# descriptions (no apostrophe; CreateSecurityGroup and IpRange in the EC2 API Reference), and
# the provider does not check them at plan time. The descriptions here interpolate only the
# name prefix (letters, digits, hyphens) and CIDR blocks (validated in variables.tf).

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
  count = length(local.vpc_endpoint_services) > 0 ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "HTTPS from the Lambda poller network interfaces to the interface VPC endpoints of this deployment"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

# Whatever the poller needs that no endpoint here provides, it reaches through what the VPC
# already has (a NAT gateway, or endpoints of its own): HTTPS out, and nothing else.
resource "aws_vpc_security_group_egress_rule" "broker_https_out" {
  count = local.private && length(setsubtract(local.poller_services, local.vpc_endpoint_services)) > 0 ? 1 : 0

  security_group_id = aws_security_group.broker[0].id
  description       = "HTTPS from the Lambda poller network interfaces to AWS services through a NAT gateway or endpoints of the VPC"
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

# Interface endpoints, so that the poller (and the admin functions, bootstrap.tf) reach
# AWS without a NAT gateway; private DNS makes the services' usual names resolve to them.
#
# Which services the poller needs is not settled by AWS's own pages: the Lambda guide ("Process
# Amazon MQ messages with Lambda", network configuration) lists Lambda, Secrets Manager with
# authentication, and STS for ActiveMQ only; its current translations and the 2022 guide list
# Lambda, STS and Secrets Manager unqualified. So STS too, by default: a missing endpoint shows
# only as a mapping that never consumes, and STS costs about $7 a month per zone. A VPC that
# already has one of them with private DNS must leave it out of vpc_endpoint_services: a second
# one for the same service fails ("conflicting DNS domain", terraform-provider-aws #17535). The
# plan cannot find such endpoints: provider 5.100 has no data source that lists a VPC's endpoints
# without failing when there are none (aws_vpc_endpoint fails then; the plural aws_vpc_endpoints
# of later versions is not in 5.100).
locals {
  poller_services       = ["lambda", "secretsmanager", "sts"]
  vpc_endpoint_services = local.private ? var.vpc_endpoint_services : toset([])
}

# The VPC, read to check at plan time that private DNS can work there (precondition on the
# endpoints' security group).
data "aws_vpc" "this" {
  count = local.private ? 1 : 0
  id    = var.vpc_id
}

resource "aws_security_group" "endpoints" {
  count = length(local.vpc_endpoint_services) > 0 ? 1 : 0

  name_prefix = "${local.name}-endpoints-"
  description = "Interface VPC endpoints used by the Lambda poller and the admin functions of broker ${local.name}-broker"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true

    # The endpoints (below, created with this group) use private DNS, which needs both VPC
    # attributes (CreateVpcEndpoint, PrivateDnsEnabled, EC2 API Reference): checked here, once,
    # rather than by an apply that fails after the broker, half an hour in.
    precondition {
      condition     = data.aws_vpc.this[0].enable_dns_support && data.aws_vpc.this[0].enable_dns_hostnames
      error_message = "The interface endpoints use private DNS, which needs DNS resolution and DNS hostnames on in vpc_id: turn both on (enable_dns_support and enable_dns_hostnames of the VPC), or set vpc_endpoint_services = [] and reach AWS through a NAT gateway."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_poller" {
  count = length(local.vpc_endpoint_services) > 0 ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the Lambda poller network interfaces (broker security group)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_endpoint" "this" {
  for_each = local.vpc_endpoint_services

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = {
    Name = "${local.name}-${each.key}"
  }
}

################################################################################
# Private mode: HTTPS to the broker's management API and to Secrets Manager, nothing else
################################################################################

resource "aws_security_group" "admin" {
  count = local.private ? 1 : 0

  name_prefix = "${local.name}-admin-"
  description = "Lambda functions ${local.name}-bootstrap, -metrics and -rotation: HTTPS to the management API of the broker and to Secrets Manager"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "admin_to_broker" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.admin[0].id
  description                  = "HTTPS to the management API of the broker"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_security_group_ingress_rule" "broker_from_admin" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "Management API (HTTPS) from the bootstrap, rotation and metrics functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.admin[0].id
}

# The admin functions call Secrets Manager only (the metrics function writes its metrics to its
# log): through this deployment's endpoint, or else through what the VPC has.
resource "aws_vpc_security_group_egress_rule" "admin_to_endpoints" {
  count = contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id            = aws_security_group.admin[0].id
  description                  = "HTTPS to the Secrets Manager endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_admin" {
  count = contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the bootstrap, rotation and metrics functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.admin[0].id
}

resource "aws_vpc_security_group_egress_rule" "admin_https_out" {
  count = local.private && !contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id = aws_security_group.admin[0].id
  description       = "HTTPS to Secrets Manager through a NAT gateway or endpoints of the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
