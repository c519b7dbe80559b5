"""The dashboard: a browser client of the public GraphQL API at /dashboard."""
