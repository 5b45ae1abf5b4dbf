terraform {
  # Validations that refer to other variables need 1.9; 1.11 is the version tested (1.11.4).
  required_version = ">= 1.11"

  # The one required_providers block of this module (Terraform refuses a second one in another
  # file). The tests prove hashicorp/aws 5.100.0; 6.x changed provider-wide behaviour and is
  # not admitted until it is tested. random and archive generate the broker password and the
  # Lambda package on the deployer's machine (generators.tf).
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
