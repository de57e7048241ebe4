"""The staging stack composed from constructs_obs."""
