"""Alarms that notify an SNS topic: the host's built-in alarms and alarms on log patterns."""
