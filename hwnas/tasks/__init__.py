"""Tasks: what a search or training optimises besides latency (built-ins and plugins)."""
