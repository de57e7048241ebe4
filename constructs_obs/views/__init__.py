"""What a team looks at: Logs Insights saved queries and the host's dashboard."""
