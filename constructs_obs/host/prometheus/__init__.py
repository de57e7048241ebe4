"""Prometheus metrics of an application on the host, scraped by the CloudWatch agent that already runs there."""
