terraform {
  # Validations that refer to other variables need 1.9; 1.11 is the version tested (1.11.4).
  required_version = ">= 1.11"

  required_providers {
    # Tested offline with 5.100.0; nothing here is specific to 5.x, so 6.x is admitted too.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
  # hashicorp/random and hashicorp/archive are declared in generators.tf, next to the only two
  # resources that use them (see that file for why).
}
