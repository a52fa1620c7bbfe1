"""Tasks: what a search or training optimises besides latency (avatar, digits, and plugins)."""
