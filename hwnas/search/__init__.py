"""The generic differentiable searcher: supernet, latency model, policies, loop, derivation, random baseline."""
