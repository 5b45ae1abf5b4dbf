"""Stand-in Terraform providers for hashicorp/random and hashicorp/archive, for offline tests.

What: two small providers written in Python with the `tf` framework (PyPI `tf` 1.2.0, plugin
protocol 6): `random_password` (random_provider.py, claiming version 3.7.2) and the
`archive_file` data source (archive_provider.py, 2.7.1, zip only). mirror.py writes a launcher
for each into a filesystem mirror (unpacked layout) and the CLI configuration that installs them
beside hashicorp/aws from its own mirror.

Why: the real providers cannot be downloaded where the tests run, and main.tf needs both (the
broker password, the Lambda zips). With the stand-ins, `terraform init/validate/plan/apply/
destroy/test` run on the configuration as shipped instead of on a copy with those blocks
swapped out.

Sources: each schema is the real provider's, attribute for attribute, and the behaviour follows
its code; the modules cite the file and tag each comes from (terraform-provider-random v3.7.2,
terraform-provider-archive v2.7.1). tests/terraform/test_stand_in_providers.py compares the schemas
Terraform sees with tables written from those sources.

Limits: no import of `random_password`, no tar.gz archives, and the zip bytes (hence hashes)
differ from the real provider's, though they are deterministic.
"""
