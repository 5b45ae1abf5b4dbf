terraform {
  # Validations that refer to other variables need 1.9; 1.11 is the version tested (1.11.4).
  required_version = ">= 1.11"

  # The one required_providers block of this module (Terraform refuses a second one in another
  # file). hashicorp/aws: 5.100.0 is the version the tests run (tests/terraform); 6.x
  # was checked, not run, against the provider's version 6 upgrade guide and its 6.0.0 changelog
  # for every resource, data source and argument used here (docs/terraform.md lists them).
  # random and archive generate the broker password and the Lambda packages on the deployer's
  # machine (main.tf).
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
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
