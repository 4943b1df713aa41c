"""The Ray dashboard as the reconcilers use it: where a cluster's dashboard is (`addresses`),
and an async client for its job and Serve APIs (`client`, `jobs`).
"""
