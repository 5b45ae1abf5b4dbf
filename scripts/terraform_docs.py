"""Fill the Terraform Inputs and Outputs tables of docs/terraform.md: python scripts/terraform_docs.py [--check].

The code is rabbitmq_docs.terraform_docs; make docs runs it.
"""

from rabbitmq_docs.terraform_docs import main

if __name__ == "__main__":
    raise SystemExit(main())
