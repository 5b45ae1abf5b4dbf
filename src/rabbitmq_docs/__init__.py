"""Code that only draws this repository's documentation, apart from the tools a user runs.

- `terraform_docs`: the Inputs and Outputs tables of docs/terraform.md, from variables.tf and
  outputs.tf (`make docs`). terraform-docs, which the pre-commit hook runs, is a Go binary that
  no registry reachable here packages (not PyPI, npm or Debian), so this module stands in where
  it is not installed.
- `dashboard_picture`: docs/dashboard.svg, the README's picture of the CloudWatch dashboard,
  drawn from the dashboard body Terraform deploys (tests/terraform checks that it still is).
"""
