"""The controlled world around the nodes: clock, network, clients, invariants, scripts."""
