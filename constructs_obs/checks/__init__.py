"""Checks that run at synth: prop validation, app-wide names, the CloudWatch free tier, compliance acknowledgments."""
